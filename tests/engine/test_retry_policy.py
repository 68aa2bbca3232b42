"""The retry policy of ``engine/retries.py``, decided from real Task models."""
from __future__ import annotations

from lakeloom.engine import retries
from lakeloom.engine.retries import AttemptOutcome
from lakeloom.spec.models import Job, Task


def _task(**fields: object) -> Task:
    return Task.model_validate({"task_key": "t", "python_task": {"function": "os:getcwd"}, **fields})


def _delay(task: Task, outcome: AttemptOutcome, *, stopped: bool = False, timed_out: bool = False,
           backoff: float | None = None) -> float | None:
    return retries.retry_delay(task, outcome, run_stopped=stopped, run_timed_out=timed_out,
                               backoff=lambda: backoff, now_ms=lambda: 10_000)


def test_failed_attempts_retry_after_the_interval_counted_from_their_start() -> None:
    task = _task(max_retries=2, min_retry_interval_millis=3_000)
    assert _delay(task, AttemptOutcome("FAILED", None, 1, started_wall_ms=9_000)) == 2.0
    assert _delay(task, AttemptOutcome("FAILED", None, 2, started_wall_ms=1_000)) == 0.0  # already due
    assert _delay(task, AttemptOutcome("FAILED", None, 3, started_wall_ms=9_000)) is None  # retries spent
    assert _delay(task, AttemptOutcome("SUCCESS", None, 1, started_wall_ms=9_000)) is None
    assert _delay(task, AttemptOutcome("FAILED", None, 1, started_wall_ms=9_000), stopped=True) is None
    assert _delay(_task(max_retries=-1), AttemptOutcome("FAILED", None, 50, started_wall_ms=10_000)) == 0.0


def test_timeouts_retry_only_with_retry_on_timeout_and_their_own_timeout() -> None:
    own = AttemptOutcome("TIMEDOUT", "TIMEDOUT", 1, started_wall_ms=10_000)
    assert _delay(_task(max_retries=1), own) is None
    assert _delay(_task(max_retries=1, retry_on_timeout=True), own) == 0.0
    assert _delay(_task(max_retries=1, retry_on_timeout=True), own, timed_out=True) is None  # the job timed out
    cancelled = AttemptOutcome("TIMEDOUT", "CANCELED", 1, started_wall_ms=10_000)
    assert _delay(_task(max_retries=1, retry_on_timeout=True), cancelled) is None


def test_condition_tasks_never_retry_and_continuous_backoff_extends_spent_retries() -> None:
    cond = Task.model_validate({"task_key": "c", "condition_task": {"op": "EQUAL_TO", "left": "1", "right": "2"},
                                "max_retries": 3})
    assert _delay(cond, AttemptOutcome("FAILED", None, 1, started_wall_ms=10_000)) is None
    spent = AttemptOutcome("FAILED", None, 1, started_wall_ms=10_000)
    assert _delay(_task(), spent, backoff=4.0) == 4.0
    assert _delay(_task(), spent, backoff=None) is None
    job = Job.model_validate({"name": "c", "tasks": [{"task_key": "t", "python_task": {"function": "os:getcwd"}}],
                              "continuous": {"task_retry_mode": "ON_FAILURE"}})
    kw = {"nested": False, "others_on_first_attempt": True, "max_backoff_seconds": 5.0}
    assert [retries.continuous_backoff(job, attempts_made=n, **kw) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert retries.continuous_backoff(job, attempts_made=1, **{**kw, "others_on_first_attempt": False}) is None
    assert retries.continuous_backoff(job, attempts_made=1, **{**kw, "nested": True}) is None
