"""Retries, retry intervals, task and job timeouts."""
from __future__ import annotations

from harness import Harness, attempts, results, task


def test_max_retries_counts_retries_and_keeps_every_attempt(harness: Harness) -> None:
    run = harness.run([task("a", "fail", max_retries=2)])
    tries = attempts(run, "a")
    assert [t["attempt_number"] for t in tries] == [0, 1, 2]
    assert all(t["state"]["result_state"] == "FAILED" for t in tries)
    assert len({t["run_id"] for t in tries}) == 3  # each attempt is its own task run
    assert run["state"]["result_state"] == "FAILED"


def test_max_retries_zero_means_no_retry(harness: Harness) -> None:
    run = harness.run([task("a", "fail", max_retries=0)])
    assert len(attempts(run, "a")) == 1


def test_retry_then_success(harness: Harness) -> None:
    run = harness.run([task("a", "fail_until_attempt", params={"succeed_at": 2}, max_retries=5),
                       task("b", deps=["a"])])
    assert [t["state"]["result_state"] for t in attempts(run, "a")] == ["FAILED", "FAILED", "SUCCESS"]
    assert results(run) == {"a": "SUCCESS", "b": "SUCCESS"}
    # The downstream task ran once, after the successful attempt.
    assert attempts(run, "b")[0]["start_time"] >= attempts(run, "a")[-1]["end_time"]
    assert run["state"]["result_state"] == "SUCCESS"


def test_max_retries_minus_one_retries_until_success(harness: Harness) -> None:
    run = harness.run([task("a", "fail_until_attempt", params={"succeed_at": 6}, max_retries=-1)])
    assert [t["attempt_number"] for t in attempts(run, "a")] == list(range(7))
    assert results(run)["a"] == "SUCCESS"


def test_min_retry_interval_is_measured_from_attempt_start(harness: Harness) -> None:
    # Each attempt runs ~0.15 s then fails; the interval (0.4 s) counts from the attempt's start.
    run = harness.run([task("a", "sleep_then_fail", params={"seconds": 0.15}, max_retries=2,
                            min_retry_interval_millis=400)])
    rows = harness.task_rows(run["run_id"], "a")
    assert [r.attempt_number for r in rows] == [0, 1, 2]
    for prev, nxt in zip(rows, rows[1:]):
        assert nxt.start_time - prev.start_time >= 400
        assert nxt.start_time >= prev.end_time


def test_timeout_is_not_retried_without_retry_on_timeout(harness: Harness) -> None:
    run = harness.run([task("a", "cooperative_sleep", params={"seconds": 30}, timeout_seconds=1, max_retries=3),
                       task("b", deps=["a"]), task("cleanup", deps=["a"], run_if="ALL_DONE")])
    tries = attempts(run, "a")
    assert len(tries) == 1
    assert tries[0]["state"]["result_state"] == "TIMEDOUT"
    assert tries[0]["state"]["user_cancelled_or_timedout"] is True
    assert tries[0]["end_time"] - tries[0]["start_time"] >= 1000
    res = results(run)
    # A timed-out task is a failed dependency (it is not a cancellation).
    assert res["b"] == "UPSTREAM_FAILED"
    assert res["cleanup"] == "SUCCESS"
    assert run["state"]["result_state"] == "FAILED"


def test_retry_on_timeout_retries_a_timed_out_attempt(harness: Harness) -> None:
    # Attempt 0 sleeps past its 1 s timeout; attempt 1 returns at once.
    run = harness.run([task("a", "cooperative_sleep", params={"seconds": 30, "until_attempt": 1},
                            timeout_seconds=1, max_retries=1, retry_on_timeout=True)])
    assert [t["state"]["result_state"] for t in attempts(run, "a")] == ["TIMEDOUT", "SUCCESS"]
    assert run["state"]["result_state"] == "SUCCESS"


def test_job_timeout_stops_the_run(harness: Harness) -> None:
    run = harness.run([task("a", "cooperative_sleep", params={"seconds": 30}),
                       task("b", deps=["a"]), task("quick")], timeout_seconds=1)
    res = results(run)
    assert res["a"] == "TIMEDOUT"
    assert res["quick"] == "SUCCESS"
    assert res["b"] in ("UPSTREAM_FAILED", "UPSTREAM_CANCELED", "CANCELED")
    assert run["state"]["result_state"] == "TIMEDOUT"
    assert run["end_time"] - run["start_time"] >= 1000
