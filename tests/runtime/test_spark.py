"""The session provider, its settings, and per-thread job groups / pools on a real session."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lakeloom.config import Workspace
from lakeloom.runtime.spark import (
    SparkSessionProvider,
    active_job_ids,
    bind_task_thread,
    cancel_job_group,
    spark_conf,
    spark_submit_args,
    spark_submit_conf,
    task_thread,
    unbind_task_thread,
)


def test_importing_the_provider_does_not_import_pyspark() -> None:
    code = "import sys, lakeloom.runtime.spark, lakeloom.catalog; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_conf_precedence_defaults_then_plugins_then_workspace(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"spark": {
        "master": "local[1]",
        "conf": {"spark.sql.shuffle.partitions": 7, "spark.jars": "/extra/user.jar"},
    }})
    conf = spark_conf(ws, {"spark.sql.shuffle.partitions": "5", "spark.plugin.flag": "on"})
    assert conf["spark.master"] == "local[1]"
    assert conf["spark.sql.shuffle.partitions"] == "7"
    assert conf["spark.plugin.flag"] == "on"
    jars = conf["spark.jars"].split(",")
    assert [Path(j).name for j in jars[:2]] == ["delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar"]
    assert Path(jars[2]).name.startswith("sqlite-jdbc-")  # system.lakeflow.* read the run store with it
    assert Path(jars[3]).name.startswith("lakeloom-catalog-") and jars[4] == "/extra/user.jar"
    assert conf["spark.pyspark.python"] == sys.executable
    assert conf["spark.scheduler.mode"] == "FAIR"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.sql.sources.default"] == "delta"
    assert spark_conf(ws, {"spark.sql.shuffle.partitions": "5"})["spark.sql.shuffle.partitions"] == "7"
    ws_no_override = Workspace(root=tmp_path)
    assert spark_conf(ws_no_override, {"spark.sql.shuffle.partitions": "5"})["spark.sql.shuffle.partitions"] == "5"


def test_spark_submit_conf_leaves_master_and_python_to_the_cluster(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"spark": {"master": "spark://host:7077"}})
    conf = spark_submit_conf(ws)
    assert "spark.master" not in conf and "spark.pyspark.python" not in conf
    assert "spark.databricks.delta.snapshotPartitions" not in conf  # local-only tuning
    # /Volumes and dbfs: mapping reaches executors on other machines: the file-system jar is on
    # their class path too (Hadoop loads fs.file.impl before spark.jars are added)
    assert conf["spark.hadoop.fs.file.impl"] == "io.lakeloom.fs.LakeloomLocalFileSystem"
    fs_jar = conf["spark.driver.extraClassPath"]
    assert "lakeloom-fs-" in fs_jar and conf["spark.executor.extraClassPath"] == fs_jar
    args = spark_submit_args(ws)
    assert args[0] == "--conf" and "spark.sql.defaultCatalog=main" in args


def test_provider_is_lazy(tmp_path: Path) -> None:
    provider = SparkSessionProvider(Workspace(root=tmp_path))
    assert not provider.started and not provider.owns_session
    provider.stop()  # nothing to stop


@pytest.mark.spark
def test_provider_reuses_the_running_session_and_never_stops_it(spark, spark_workspace: Workspace) -> None:
    provider = SparkSessionProvider(spark_workspace)
    assert provider.get() is spark
    assert provider.started and not provider.owns_session
    provider.stop()
    assert not provider.started
    assert spark.range(3).count() == 3


@pytest.mark.spark
def test_session_settings(spark) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.scheduler.mode") == "FAIR"
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.conf.get("spark.sql.sources.default") == "delta"
    assert "io.delta.sql.DeltaSparkSessionExtension" in conf.get("spark.sql.extensions")
    # Started with it (not set later by a SQL task): user code's spark.sql(q, args=...) binds.
    assert conf.get("spark.sql.legacy.parameterSubstitution.constantsOnly") == "true"


@pytest.mark.spark
def test_python_udf_workers_run_this_interpreter(spark) -> None:
    from pyspark.sql.functions import udf

    @udf("string")
    def interpreter(_):  # type hints would make PySpark guess a pandas UDF
        import sys as worker_sys

        return worker_sys.executable

    assert spark.range(1).select(interpreter("id")).first()[0] == sys.executable


def test_a_udf_of_a_method_without_arguments_is_a_plain_udf(spark) -> None:
    # Databricks' DLT CDC generator does F.udf(fake.first_name); pyspark 4.2 alone makes it a
    # grouped aggregate and the query fails with MISSING_GROUP_BY.
    from pyspark.sql import functions as F

    class Names:  # defined here: the Python workers unpickle it by value
        def first_name(self) -> str:  # as Faker's providers: a bound method, no argument, a return hint
            return "Ann"

    first_name = F.udf(Names().first_name)
    rows = spark.range(3).withColumn("name", first_name()).collect()
    assert [(r.id, r.name) for r in rows] == [(0, "Ann"), (1, "Ann"), (2, "Ann")]


@pytest.mark.spark
def test_delta_path_tables_work_without_the_catalog(spark, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    spark.range(3).write.format("delta").save(path)
    spark.range(3, 5).write.format("delta").mode("append").save(path)
    assert spark.sql(f"SELECT count(*) FROM delta.`{path}`").first()[0] == 5
    assert spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count() == 2


@pytest.mark.spark
def test_job_group_and_pool_are_per_thread(spark) -> None:
    sc = spark.sparkContext
    ready = threading.Barrier(2, timeout=60)
    seen: dict[str, tuple[str | None, str | None, list[int]]] = {}
    errors: list[BaseException] = []

    def task(name: str) -> None:
        try:
            bind_task_thread(spark, f"group-{name}", f"pool-{name}", f"task {name}")
            ready.wait()  # both threads have bound before either reads
            spark.range(10).count()
            seen[name] = (sc.getLocalProperty("spark.jobGroup.id"), sc.getLocalProperty("spark.scheduler.pool"),
                          active_job_ids(spark, f"group-{name}"))
            unbind_task_thread(spark)
            assert sc.getLocalProperty("spark.jobGroup.id") is None
        except BaseException as e:  # surfaced in the main thread
            errors.append(e)

    threads = [threading.Thread(target=task, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for name in ("a", "b"):
        group, pool, jobs = seen[name]
        assert (group, pool) == (f"group-{name}", f"pool-{name}")
        assert jobs, f"no Spark job recorded for group-{name}"
    assert sc.getLocalProperty("spark.jobGroup.id") is None  # the main thread was never bound
    # Pools missing from the allocation file were created on demand (with default settings).
    jsc = sc._jsc.sc()
    assert jsc.getPoolForName("pool-a").isDefined() and jsc.getPoolForName("pool-b").isDefined()


@pytest.mark.spark
def test_cancel_job_group_stops_a_running_job(spark) -> None:
    outcome: dict[str, BaseException | None] = {}

    def long_task() -> None:
        with task_thread(spark, "to-cancel", "cancel-pool", "a job that would run for minutes"):
            try:
                spark.range(0, 10**13, numPartitions=2).selectExpr("sum(id % 7)").collect()
                outcome["error"] = None
            except BaseException as e:
                outcome["error"] = e

    worker = threading.Thread(target=long_task)
    worker.start()
    deadline = time.monotonic() + 60
    while not active_job_ids(spark, "to-cancel"):  # wait for the job to be submitted
        assert time.monotonic() < deadline, "the long job never started"
        time.sleep(0.05)
    cancel_job_group(spark, "to-cancel")
    worker.join(timeout=60)
    assert not worker.is_alive(), "the cancelled job kept running"
    assert outcome["error"] is not None and "cancel" in str(outcome["error"]).lower()
    assert spark.range(5).count() == 5  # the session is still usable
