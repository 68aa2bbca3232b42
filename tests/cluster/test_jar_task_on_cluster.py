"""``spark_jar_task`` on the real standalone cluster: with a ``spark://`` master the class runs as
a spark-submit child application of the task (``--class``, the task's ``libraries[].jar``, its
``parameters``), whose executors on the workers write a Delta table into the workspace's
catalog. The jar is compiled in the test from Java source with the JDK's ``javac``/``jar``.

The engine runs in the test process; the run itself never starts Spark (its only task is the
jar), so the child application gets the cluster's cores."""
from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.runtime.standalone import ClusterInfo

from cluster_helpers import master_json

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

WRITER = """
package io.lakeloom.clustertest;

import org.apache.spark.sql.SparkSession;

public class WriteSquares {
    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder().getOrCreate();
        spark.range(Long.parseLong(args[1])).selectExpr("id", "id * id AS square").repartition(4)
             .write().format("delta").mode("overwrite").saveAsTable(args[0]);
        System.out.println("APP_ID=" + spark.sparkContext().applicationId()
                           + " MASTER=" + spark.sparkContext().master());
    }
}
"""


def _build_jar(root: Path) -> Path:
    if shutil.which("javac") is None or shutil.which("jar") is None:
        pytest.fail("javac and jar (JDK 17) are needed; lakeloom's set-up requires Java 17")
    import pyspark

    src = root / "src" / "io" / "lakeloom" / "clustertest"
    src.mkdir(parents=True)
    (src / "WriteSquares.java").write_text(WRITER)
    jars = Path(pyspark.__file__).parent / "jars"
    subprocess.run(["javac", "--release", "17", "-cp", f"{jars}/*", "-d", str(root / "classes"),
                    str(src / "WriteSquares.java")], check=True, capture_output=True)
    out = root / "lib" / "squares-1.0.jar"
    out.parent.mkdir()
    subprocess.run(["jar", "cf", str(out), "-C", str(root / "classes"), "."], check=True, capture_output=True)
    return out


def test_spark_jar_task_runs_as_a_child_application_on_the_cluster(
        spark, tmp_path: Path, standalone_cluster: ClusterInfo) -> None:  # noqa: ANN001
    from lakeloom.catalog.listing import list_tables

    _build_jar(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text(f'spark: {{master: "{standalone_cluster.master_url}"}}\n')
    (tmp_path / "job.yml").write_text(textwrap.dedent("""
        name: jar-on-cluster
        tasks:
          - task_key: squares
            spark_jar_task:
              main_class_name: io.lakeloom.clustertest.WriteSquares
              parameters: [main.default.squares, "20"]
            libraries: [{jar: lib/squares-1.0.jar}]
        """))
    ws = load_workspace(tmp_path)
    engine = Engine.open(ws)
    try:
        run = engine.submit(str(tmp_path / "job.yml"))
    finally:
        engine.store.close()
    log = (tmp_path / ".lakeloom" / "logs" / str(run["run_id"]) / "squares" / "0.log").read_text()
    assert run["state"]["result_state"] == "SUCCESS", (run["state"], log[-3000:])
    app_id, master = re.search(r"APP_ID=(\S+) MASTER=(\S+)", log).groups()  # type: ignore[union-attr]
    assert master == standalone_cluster.master_url
    assert app_id in {a["id"] for a in master_json(standalone_cluster)["completedapps"]}
    work = Path(standalone_cluster.master.log).parent / "work"
    assert list(work.glob(f"worker-*/{app_id}/*/stderr")), "no executor of the jar's application ran on a worker"
    (table,) = [t for t in list_tables(ws) if t.name == "squares"]
    rows = spark.read.format("delta").load(table.storage_location).orderBy("id").collect()
    assert [(r.id, r.square) for r in rows] == [(i, i * i) for i in range(20)]
