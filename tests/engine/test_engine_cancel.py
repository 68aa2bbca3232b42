"""Cancellation (in-process and through the store) and abandoning stuck tasks."""
from __future__ import annotations

import threading
from typing import Any

from harness import Harness, attempts, results, task, wait_until
from lakeloom.store.store import RunStore


def _running(h: Harness, key: str) -> Any:
    def check() -> Any:
        for run in h.store.list_runs(limit=5):
            for r in h.store.task_runs(run.run_id):
                if r.task_key == key and r.life_cycle_state == "RUNNING":
                    return run.run_id
        return None
    return check


def _submit_in_thread(h: Harness, path: str) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def go() -> None:
        try:
            out["run"] = h.engine.submit(path)
        except BaseException as e:  # surface it in the test thread
            out["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


JOB = [task("a", "cooperative_sleep", params={"seconds": 60}), task("b", deps=["a"]),
       task("cleanup", deps=["a"], run_if="ALL_DONE"), task("on_failure", deps=["a"], run_if="AT_LEAST_ONE_FAILED")]


def _assert_cancelled(run: dict[str, Any]) -> None:
    res = results(run)
    assert res["a"] == "CANCELED"
    assert res["b"] == "UPSTREAM_CANCELED"
    assert res["cleanup"] == "SUCCESS"  # run_if ALL_DONE still runs after a cancellation
    assert res["on_failure"] == "SUCCESS"
    assert run["state"]["result_state"] == "CANCELED"
    assert run["state"]["user_cancelled_or_timedout"] is True
    assert run["status"]["termination_details"]["code"] == "USER_CANCELED"


def test_cancel_from_another_thread(harness: Harness) -> None:
    t, out = _submit_in_thread(harness, str(harness.job(JOB)))
    run_id = wait_until(_running(harness, "a"))
    assert harness.engine.cancel(run_id) is True
    t.join(30)
    assert not t.is_alive() and "error" not in out
    _assert_cancelled(out["run"])


def test_cancel_through_the_store_flag(harness: Harness) -> None:
    """Another process (here: a second RunStore on the same database) sets the flag."""
    t, out = _submit_in_thread(harness, str(harness.job(JOB)))
    run_id = wait_until(_running(harness, "a"))
    other = RunStore(harness.workspace.store_url)
    try:
        other.request_cancel(run_id)
    finally:
        other.close()
    t.join(30)
    assert not t.is_alive() and "error" not in out
    _assert_cancelled(out["run"])


def test_cancel_of_a_finished_or_unknown_run_is_refused(harness: Harness) -> None:
    run = harness.run([task("a")])
    assert harness.engine.cancel(run["run_id"]) is False
    assert harness.engine.cancel(99999) is False


def test_task_stuck_in_pure_python_is_abandoned_on_timeout(make_harness: Any) -> None:
    h = make_harness({"engine": {"cancel_grace_seconds": 0.3}})
    run = h.run([task("stuck", "stuck", params={"seconds": 600}, timeout_seconds=1),
                 task("after", deps=["stuck"], run_if="ALL_DONE")])
    res = results(run)
    assert res == {"stuck": "TIMEDOUT", "after": "SUCCESS"}
    assert "abandoned" in attempts(run, "stuck")[0]["state"]["state_message"]
    assert run["state"]["life_cycle_state"] == "TERMINATED"


def test_task_stuck_in_pure_python_is_abandoned_on_cancel(make_harness: Any) -> None:
    h = make_harness({"engine": {"cancel_grace_seconds": 0.3}})
    t, out = _submit_in_thread(h, str(h.job([task("stuck", "stuck", params={"seconds": 600}),
                                             task("b", deps=["stuck"])])))
    run_id = wait_until(_running(h, "stuck"))
    h.engine.cancel(run_id)
    t.join(30)
    assert not t.is_alive() and "error" not in out
    run = out["run"]
    assert results(run) == {"stuck": "CANCELED", "b": "UPSTREAM_CANCELED"}
    assert "abandoned" in attempts(run, "stuck")[0]["state"]["state_message"]
    assert run["state"]["result_state"] == "CANCELED"


def test_abandoned_worker_does_not_cost_parallelism(make_harness: Any) -> None:
    # One worker slot: after the stuck attempt is abandoned, the next task still gets a worker.
    h = make_harness({"engine": {"cancel_grace_seconds": 0.2, "max_parallel_tasks": 1}})
    run = h.run([task("stuck", "stuck", params={"seconds": 600}, timeout_seconds=1),
                 task("next", deps=["stuck"], run_if="ALL_DONE"), task("third", deps=["next"])])
    assert results(run) == {"stuck": "TIMEDOUT", "next": "SUCCESS", "third": "SUCCESS"}
