"""spark_jar_task on real Spark + Delta: a class compiled in the test with the machine's javac
against pyspark's jars, loaded from the task's `libraries: [{jar: ...}]`, runs in the run's
Spark application; a throwing main fails the task naming the class and the Java error."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager

pytestmark = pytest.mark.spark

WRITER = """
package io.lakeloom.example;

import org.apache.spark.sql.SparkSession;

public class WriteNumbers {
    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder().getOrCreate();
        System.out.println("writing " + args[0]);
        Thread helper = new Thread(() -> System.err.println("helper of " + args[0]));
        helper.start();
        try { helper.join(); } catch (InterruptedException e) { throw new RuntimeException(e); }
        if (args.length > 2) {
            throw new IllegalStateException("refusing to write " + args[0]);
        }
        spark.range(Long.parseLong(args[1])).write().format("delta").mode("overwrite").saveAsTable(args[0]);
    }
}
"""


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("javac") is None or shutil.which("jar") is None:
        pytest.fail("javac and jar (JDK 17) are needed; lakeloom's set-up requires Java 17")
    import pyspark

    root = tmp_path_factory.mktemp("jar")
    src = root / "src" / "io" / "lakeloom" / "example"
    src.mkdir(parents=True)
    (src / "WriteNumbers.java").write_text(WRITER)
    classes = root / "classes"
    jars = Path(pyspark.__file__).parent / "jars"
    subprocess.run(["javac", "--release", "17", "-cp", f"{jars}/*", "-d", str(classes),
                    str(src / "WriteNumbers.java")], check=True, capture_output=True)
    out = root / "lib" / "numbers-1.0.jar"
    out.parent.mkdir()
    subprocess.run(["jar", "cf", str(out), "-C", str(classes), "."], check=True, capture_output=True)
    return out


def test_spark_jar_task_runs_main_in_the_run_session(spark, jar: Path, tmp_path: Path) -> None:  # noqa: ANN001
    shutil.copytree(jar.parent, tmp_path / "lib")
    job = {"name": "jars", "tasks": [
        {"task_key": "write", "spark_jar_task": {"main_class_name": "io.lakeloom.example.WriteNumbers",
                                                 "parameters": ["main.default.jar_numbers", "7"]},
         "libraries": [{"jar": "lib/*.jar"}]},
        {"task_key": "refuse", "spark_jar_task": {"main_class_name": "io.lakeloom.example.WriteNumbers",
                                                  "parameters": ["main.default.jar_other", "1", "stop"]},
         "libraries": [{"jar": "lib/numbers-1.0.jar"}]},
        {"task_key": "missing", "spark_jar_task": {"main_class_name": "io.lakeloom.example.Nope"},
         "libraries": [{"jar": "lib/numbers-1.0.jar"}]},
    ]}
    (tmp_path / "job.yml").write_text(yaml.safe_dump(job, sort_keys=False))
    engine = Engine.open(load_workspace(tmp_path / "ws"), build_plugin_manager(()))
    run = engine.submit(str(tmp_path / "job.yml"))
    rows = {r.task_key: r for r in engine.store.task_runs(run["run_id"])}
    assert rows["write"].result_state == "SUCCESS", rows["write"].state_message
    assert spark.table("main.default.jar_numbers").count() == 7
    assert rows["refuse"].result_state == "FAILED"
    assert ("io.lakeloom.example.WriteNumbers.main failed: java.lang.IllegalStateException: refusing to write "
            "main.default.jar_other") in rows["refuse"].state_message
    assert "class io.lakeloom.example.Nope not found in numbers-1.0.jar" in rows["missing"].state_message
    # what main and the threads it starts print is in its own task's log (the two ran at once)
    logs = {key: (tmp_path / "ws" / rows[key].log_path).read_text() for key in ("write", "refuse")}
    assert "writing main.default.jar_numbers\nhelper of main.default.jar_numbers\n" in logs["write"]
    assert "writing main.default.jar_other\nhelper of main.default.jar_other\n" in logs["refuse"]
    assert "jar_other" not in logs["write"] and "jar_numbers" not in logs["refuse"]
