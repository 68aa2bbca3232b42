"""A run executes as one principal: every Spark statement of its task threads (and of the threads
they start) answers ``current_user()`` with it."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from lakeloom.catalog import identity
from lakeloom.catalog.identity import current_principal


@pytest.mark.spark
def test_a_run_executes_as_its_run_as_principal(make_harness: Callable[..., Any], spark: Any, tmp_path: Path) -> None:
    h = make_harness()
    script = h.root / "whoami.py"
    script.write_text(textwrap.dedent("""
        import threading
        from pyspark.sql import SparkSession
        from lakeloom.runtime.dbutils import dbutils
        spark = SparkSession.getActiveSession()
        seen = {}
        def child():  # a thread the task starts runs as the run's principal too
            seen["thread"] = spark.sql("SELECT current_user()").first()[0]
        t = threading.Thread(target=child)
        t.start(); t.join()
        dbutils.jobs.taskValues.set("user", spark.sql("SELECT current_user()").first()[0])
        dbutils.jobs.taskValues.set("thread", seen["thread"])
    """))
    job = h.job([{"task_key": "who", "spark_python_task": {"python_file": str(script)}}],
                run_as={"service_principal_name": "sp-etl"})
    run = h.engine.submit(str(job))
    assert run["state"]["result_state"] == "SUCCESS", run
    values = h.store.task_values(run["run_id"])
    assert values["who"] == {"user": "sp-etl", "thread": "sp-etl"}
    # The task thread was unbound afterwards: this thread still runs as the OS user.
    assert current_principal(spark) == identity.os_user()


@pytest.mark.spark
def test_a_script_task_cannot_read_what_its_principal_may_not(make_harness: Callable[..., Any], spark: Any) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.principal_secret")
    spark.sql("CREATE TABLE IF NOT EXISTS main.principal_secret.salaries AS SELECT 1 AS id, 100 AS pay")
    h = make_harness()
    script = h.root / "peek.py"
    script.write_text("from pyspark.sql import SparkSession\n"
                      "spark = SparkSession.getActiveSession()\n"
                      "print(spark.sql('SELECT * FROM main.principal_secret.salaries').collect())\n")
    job = h.job([{"task_key": "peek", "spark_python_task": {"python_file": str(script)}}],
                run_as={"user_name": "mallory@example.com"})
    run = h.engine.submit(str(job))
    assert run["state"]["result_state"] == "FAILED"
    message = h.task_rows(run["run_id"], "peek")[0].state_message
    assert ("[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have USE CATALOG on Catalog 'main'. "
            "SQLSTATE: 42501") in message
