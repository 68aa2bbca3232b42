"""Task functions for the job-cluster tests (``python_task`` ``cluster_tasks:<name>``); they run in
the engine's process or in a job cluster's own process, which imports this module by path."""
from __future__ import annotations

import os
import time
from typing import Any


def describe(ctx: Any, fail_first: str = "false") -> dict[str, Any]:
    """Publish where the task ran: application, settings, process, environment."""
    if fail_first == "true" and ctx.attempt_number == 0:
        raise ValueError("the first attempt fails on purpose")
    spark = ctx.spark
    print(f"task {ctx.task_key} runs in process {os.getpid()}")
    seen = {
        "app": spark.sparkContext.applicationId,
        "pid": os.getpid(),
        "marker": spark.conf.get("spark.lakeloom.test.cluster", None),
        "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "master": spark.sparkContext.master,
        "driver_memory": spark.sparkContext.getConf().get("spark.driver.memory", None),
        "tier": os.environ.get("LAKELOOM_TEST_TIER"),
        "rows": spark.range(10).count(),
    }
    for key, value in seen.items():
        ctx.task_values.set(key, value)
    return seen


def read_upstream(ctx: Any, upstream: str) -> None:
    """Copy an upstream task's ``app`` value (set in another process) into this task's values."""
    ctx.task_values.set("upstream_app", ctx.task_values.get(upstream, "app"))
    from databricks.sdk.runtime import dbutils

    dbutils.jobs.taskValues.set("via_dbutils", ctx.task_values.get(upstream, "marker"))


def long_spark_job(ctx: Any) -> None:
    """A Spark job far longer than the task's timeout: only cancelling it ends the task."""
    ctx.spark.range(0, 10**13, numPartitions=64).selectExpr("sum(id * 7 % 13)").collect()


def wait_until_gone(ctx: Any, upstream: str) -> bool:
    """Wait (bounded) until the process an upstream task ran in has exited."""
    pid = int(ctx.task_values.get(upstream, "pid"))
    for _ in range(600):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            ctx.task_values.set("gone", True)
            return True
        time.sleep(0.2)
    ctx.task_values.set("gone", False)
    return False


def crash_first(ctx: Any) -> int:
    """The first attempt kills its process (as a JVM crash or an OOM kill would); the retry reports its pid."""
    if ctx.attempt_number == 0:
        os._exit(3)
    ctx.task_values.set("pid", os.getpid())
    return os.getpid()


def app_of(ctx: Any, n: str) -> dict[str, Any]:
    """A for-each iteration's answer: its input and the application it ran on."""
    return {"n": n, "app": ctx.spark.sparkContext.applicationId, "pid": os.getpid()}


def hello() -> str:
    return "hello"


def start_child_run(ctx: Any, job_file: str) -> str:
    """Start a child run (as run_job_task and dbutils.notebook.run do) from wherever this task runs."""
    child = ctx.services.run_child_job(ctx, job_file, {})
    ctx.task_values.set("child", {"run_id": child.run_id, "state": child.result_state,
                                  "outputs": child.outputs, "pid": os.getpid()})
    return child.result_state
