"""Timeouts and cancels stop every Spark job a task started, from any thread and at any time.

Each job below would keep both local cores busy for hours; if the timeout misses it, the
downstream ``run_if: ALL_DONE`` task waits behind it and the run never ends, so every test
bounds its wait and, on failure, cancels all jobs so the shared session stays usable.
"""
from __future__ import annotations

import textwrap
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from harness import Harness, results

pytestmark = pytest.mark.spark

_SESSION = "from pyspark.sql import SparkSession\n" \
           "spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()\n"
_LONG_JOB = 'spark.range(0, 10**13, numPartitions=64).selectExpr("sum(id * 7 % 13)").collect()'


@pytest.fixture
def h(make_harness: Callable[..., Harness], spark: Any) -> Harness:
    # A short grace so an attempt that ignores its cancellation is abandoned quickly.
    return make_harness({"engine": {"cancel_grace_seconds": 1}})


def _run_bounded(h: Harness, spark: Any, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the job on a thread; a run that does not end within minutes is a failure."""
    out: dict[str, Any] = {}

    def target() -> None:
        out["run"] = h.engine.submit(str(h.job(tasks)))

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=240)
    if worker.is_alive():
        spark.sparkContext.cancelAllJobs()
        worker.join(timeout=60)
        pytest.fail("the run did not end: the timed-out task's Spark job kept the cores")
    return out["run"]


def _script(root: Path, name: str, body: str) -> str:
    (root / name).write_text(textwrap.dedent(body))
    return name


def _busy_then_after(script: str) -> list[dict[str, Any]]:
    return [
        {"task_key": "busy", "timeout_seconds": 3, "spark_python_task": {"python_file": script}},
        {"task_key": "after", "depends_on": [{"task_key": "busy"}], "run_if": "ALL_DONE",
         "spark_python_task": {"python_file": "after.py"}},
    ]


def _write_after(root: Path, marker: Path) -> None:
    _script(root, "after.py", _SESSION + f"open({str(marker)!r}, 'w').write(str(spark.range(10).count()))\n")


def _await_outcome(spark: Any, path: Path) -> str:
    """What the busy task's job came to, once its (possibly abandoned) thread wrote it."""
    pause = threading.Event()
    for _ in range(480):
        if path.exists():
            return path.read_text()
        pause.wait(0.5)
    spark.sparkContext.cancelAllJobs()
    pytest.fail("the timed-out task's Spark job was not cancelled")


def test_timeout_cancels_a_job_started_from_a_thread_of_the_task(h: Harness, spark: Any, tmp_path: Path) -> None:
    marker, outcome = tmp_path / "after.txt", tmp_path / "outcome.txt"
    _write_after(h.root, marker)
    script = _script(h.root, "threaded.py", _SESSION + textwrap.dedent(f"""
        import threading
        def work():
            try:
                {_LONG_JOB}
                open({str(outcome)!r}, "w").write("finished")
            except Exception as e:
                open({str(outcome)!r}, "w").write("cancelled: " + type(e).__name__)
        t = threading.Thread(target=work)
        t.start()
        t.join()
    """))
    run = _run_bounded(h, spark, _busy_then_after(script))
    assert results(run) == {"busy": "TIMEDOUT", "after": "SUCCESS"}
    assert marker.read_text() == "10"
    assert _await_outcome(spark, outcome).startswith("cancelled")


def test_a_job_started_after_the_timeout_is_cancelled_too(h: Harness, spark: Any, tmp_path: Path) -> None:
    marker, outcome = tmp_path / "after.txt", tmp_path / "outcome.txt"
    _write_after(h.root, marker)
    # The script ignores the timeout (busy in Python) and is abandoned; its job, submitted after
    # the engine moved on, must not take the cores from the downstream task or later runs.
    script = _script(h.root, "late.py", _SESSION + textwrap.dedent(f"""
        import time
        time.sleep(6)
        try:
            {_LONG_JOB}
            open({str(outcome)!r}, "w").write("finished")
        except Exception as e:
            open({str(outcome)!r}, "w").write("cancelled: " + type(e).__name__)
    """))
    run = _run_bounded(h, spark, _busy_then_after(script))
    assert results(run) == {"busy": "TIMEDOUT", "after": "SUCCESS"}
    assert _await_outcome(spark, outcome).startswith("cancelled")


def test_the_task_session_is_the_runs_and_tagged(h: Harness, spark: Any, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    script = _script(h.root, "probe.py", textwrap.dedent(f"""
        from pyspark.sql import SparkSession
        active = SparkSession.getActiveSession()
        sc = active.sparkContext
        open({str(seen)!r}, "w").write("|".join([
            str(active is not None), sc.getLocalProperty("spark.jobGroup.id") or "",
            ",".join(sorted(sc.getJobTags()))]))
    """))
    run = h.engine.submit(str(h.job([{"task_key": "probe", "spark_python_task": {"python_file": script}}])))
    assert results(run) == {"probe": "SUCCESS"}
    active, group, tags = seen.read_text().split("|")
    assert active == "True"
    assert group.startswith(f"lakeloom-{run['run_id']}-") and tags == group
