"""A Python UDF that fails in a Spark worker: the task error, the task log and the pipeline
event log lead with the worker's Python root cause, not "thrown from the Python worker".
Pipeline source files also see Databricks' globals (dbutils, display, displayHTML)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.pipelines.eventlog import read_events
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.runtime.worker_errors import python_worker_error

JOB = """
resources:
  jobs:
    udfs:
      name: udfs
      tasks:
        - task_key: write
          spark_python_task: {python_file: write.py}
        - task_key: refresh
          pipeline_task: {pipeline_id: scores}
  pipelines:
    scores:
      name: "Scores, with a UDF that fails"
      catalog: main
      schema: udf_errors
      libraries: [{file: {path: scores.py}}]
      storage: .lakeloom/pipelines/scores-storage
"""
WRITE = """
from pyspark.sql import functions as F

def ratio(x):
    return 10 // (x - x)

spark.range(3).select(F.udf(ratio, "long")("id").alias("r")).write.format("delta").mode("overwrite") \\
    .saveAsTable("main.default.udf_errors_out")
"""
SCORES = """
from pyspark import pipelines as dp
from pyspark.sql import functions as F

assert dbutils is not None and callable(display) and callable(displayHTML)

def check(v):
    if v > 1:
        raise ValueError(f"score {v} is out of range")
    return v

@dp.materialized_view
def scores():
    return spark.range(3).select(F.udf(check, "long")("id").alias("score"))
"""


def test_traceback_is_found_in_a_java_stack() -> None:
    java = ("An error occurred while calling o1.saveAsTable.\n: org.apache.spark.SparkException: Task failed\n"
            "\tat org.apache.spark.X.y(X.scala:1)\nCaused by: org.apache.spark.api.python.PythonException: "
            "Traceback (most recent call last):\n  File \"/w/job.py\", line 4, in ratio\n    return 10 // 0\n"
            "ZeroDivisionError: integer division or modulo by zero\n\n\tat org.apache.spark.api.python.A.b(A.scala:2)\n")
    found = python_worker_error(RuntimeError(java))
    assert found is not None and found.summary == "ZeroDivisionError: integer division or modulo by zero"
    assert found.traceback.startswith("Traceback") and "at org.apache" not in found.traceback
    assert python_worker_error(RuntimeError("no worker here")) is None


@pytest.mark.spark
def test_udf_root_cause_reaches_task_error_log_and_event_log(spark, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "job.yml").write_text(JOB)
    (tmp_path / "write.py").write_text(textwrap.dedent(WRITE))
    (tmp_path / "scores.py").write_text(textwrap.dedent(SCORES))
    engine = Engine.open(load_workspace(tmp_path), build_plugin_manager(()))
    run = engine.submit(str(tmp_path / "job.yml"), job_key="udfs")
    rows = {r.task_key: r for r in engine.store.task_runs(run["run_id"])}
    write, refresh = rows["write"], rows["refresh"]
    assert write.result_state == "FAILED" and refresh.result_state == "FAILED"
    first = write.state_message.splitlines()[0]
    assert first == "ZeroDivisionError: integer division or modulo by zero (in a Spark Python worker)", first
    assert 'in ratio\n    return 10 // (x - x)' in write.state_message
    log = engine.workspace.resolve_stored(write.log_path).read_text()
    assert "Root cause, in a Spark Python worker:" in log and "ZeroDivisionError" in log
    assert "ValueError: score 2 is out of range" in refresh.state_message
    events = read_events(tmp_path / ".lakeloom" / "pipelines" / "scores-storage")
    errors = [e.get("error") or "" for e in events]
    assert any("ValueError: score 2 is out of range (in a Spark Python worker)" in e for e in errors), errors
