"""A run is prepared (resolved, validated, parameters, ``only``, recorded), then executed;
the run executor of ``serve`` prepares its runs the same way."""
from __future__ import annotations

import pytest

from harness import Harness, task, wait_until
from lakeloom.engine.executor import RunExecutor
from lakeloom.engine.prepare import RunTrigger
from lakeloom.spec.loader import JobSpecError


def test_prepare_records_the_run_and_execute_runs_exactly_it(harness: Harness) -> None:
    path = harness.job([task("a"), task("b", deps=["a"]), task("c", deps=["b"])],
                       parameters=[{"name": "day", "default": "mon"}])
    prepared = harness.engine.prepare(str(path), params={"day": "tue"}, only=["b+"],
                                      trigger=RunTrigger("PERIODIC", {"time": 60_000}))
    recorded = harness.store.get_run(prepared.run_id)
    assert recorded is not None and recorded.life_cycle_state == "RUNNING"
    assert (recorded.start_time, recorded.job_parameters, recorded.only) == (
        prepared.start_time_ms, {"day": "tue"}, ["b", "c"])
    assert (recorded.trigger_type, recorded.trigger_info) == ("PERIODIC", {"time": 60_000})
    assert [(t.task_key, [d.task_key for d in t.depends_on]) for t in prepared.tasks] == [("b", []), ("c", ["b"])]
    final = harness.engine.execute(prepared)
    assert final["run_id"] == prepared.run_id and final["state"]["result_state"] == "SUCCESS"
    assert [t["task_key"] for t in final["tasks"]] == ["b", "c"]


def test_bad_parameters_fail_preparation_before_anything_is_recorded(harness: Harness) -> None:
    path = harness.job([task("a")])
    with pytest.raises(JobSpecError, match="unknown job parameter"):
        harness.engine.prepare(str(path), params={"nope": "1"})
    assert harness.store.count_runs() == 0


def test_executor_launches_carry_their_state_and_invalid_jobs_fail_as_runs(harness: Harness) -> None:
    executor = RunExecutor(harness.engine, per_run_spark=False)
    one = harness.store.create_job("one", {"name": "one", "max_concurrent_runs": 1, "tasks": [
        task("w", "wait_for_file", params={"path": str(harness.root / "go")})]}, creator="t")
    first = executor.start(one)
    skipped = executor.start(one)
    assert (first.state, skipped.state) == ("RUNNING", "SKIPPED")
    assert skipped.state_message == "the job already has 1 active run(s) (max_concurrent_runs)"
    assert harness.store.get_run(skipped.run_id).state_message == skipped.state_message  # type: ignore[union-attr]
    with pytest.raises(JobSpecError, match="unknown job parameter"):
        executor.start(one, params={"nope": "1"})
    (harness.root / "go").touch()
    wait_until(lambda: not executor.active_run_ids())
    assert harness.store.get_run(first.run_id).result_state == "SUCCESS"  # type: ignore[union-attr]
    bad = harness.store.create_job("bad", {"name": "bad", "tasks": [task("a", deps=["zz"])]}, creator="t")
    launch = executor.start(bad)
    wait_until(lambda: not executor.active_run_ids())
    failed = harness.store.get_run(launch.run_id)
    assert failed is not None and (failed.life_cycle_state, failed.termination_code) == (
        "INTERNAL_ERROR", "INVALID_RUN_CONFIGURATION")
    assert "depends on unknown task 'zz'" in failed.state_message
