"""Where retries are decided: which failed attempts run again, and after how long.

The Jobs API policy: a task attempt that FAILED is retried while ``max_retries`` allows
(``-1``: without limit), one that TIMEDOUT only with ``retry_on_timeout`` and only when its
own ``timeout_seconds`` stopped it (never when the whole job timed out). The next attempt
starts ``min_retry_interval_millis`` after the failed attempt *started*. Condition tasks
are never retried, and nothing is retried once the run is cancelled or timed out.

Continuous jobs with ``continuous.task_retry_mode: ON_FAILURE`` keep retrying a task past
``max_retries`` with exponential backoff while another task is still on its first attempt
(:func:`continuous_backoff`). The coordinator asks :func:`retry_delay` after every attempt.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from lakeloom.engine import states as st

if TYPE_CHECKING:
    from lakeloom.spec.models import Job, Task

@dataclass(frozen=True)
class AttemptOutcome:
    """What the retry policy needs to know about an attempt that just ended.

    ``stop_reason`` is TIMEDOUT or CANCELED when the coordinator stopped the attempt
    (its own timeout, a cancel), None when it ended by itself.
    """

    result_state: str
    stop_reason: str | None
    attempts_made: int
    started_wall_ms: int


def is_retryable(task: Task, outcome: AttemptOutcome, *, run_timed_out: bool) -> bool:
    """Whether the attempt's result is one the policy retries (limits aside)."""
    if outcome.result_state == st.FAILED:
        return True
    return (outcome.result_state == st.TIMEDOUT and task.retry_on_timeout and outcome.stop_reason == st.TIMEDOUT
            and not run_timed_out)


def within_max_retries(task: Task, attempts_made: int) -> bool:
    """Whether ``max_retries`` allows another attempt after ``attempts_made`` in this execution."""
    return task.max_retries == -1 or attempts_made <= task.max_retries


def retry_delay(task: Task, outcome: AttemptOutcome, *, run_stopped: bool, run_timed_out: bool,
                backoff: Callable[[], float | None], now_ms: Callable[[], int] | None = None) -> float | None:
    """Seconds until the next attempt of ``task``, or None when the attempt's result is final.

    ``run_stopped``: the run was cancelled or timed out. ``backoff`` gives the continuous
    job's backoff (:func:`continuous_backoff`), asked only once ``max_retries`` is spent.
    """
    if not is_retryable(task, outcome, run_timed_out=run_timed_out):
        return None
    allowed = within_max_retries(task, outcome.attempts_made)
    extra = None if allowed else backoff()
    if (not allowed and extra is None) or run_stopped or "condition_task" in task.task_blocks:
        return None
    if extra is not None:
        return max(0.0, extra)
    due_ms = outcome.started_wall_ms + task.min_retry_interval_millis
    return max(0.0, (due_ms - (now_ms or _now_ms)()) / 1000)


def continuous_backoff(job: Job, *, attempts_made: int, nested: bool, others_on_first_attempt: bool,
                       max_backoff_seconds: float) -> float | None:
    """Seconds to wait before retrying a failed task under ``continuous.task_retry_mode:
    ON_FAILURE``, or None when it is not retried.

    Databricks retries a failed task of a continuous job while at least one other task
    is still running its first attempt, with exponential backoff (1 s doubling, capped
    at ``server.continuous_max_backoff_seconds``). Otherwise the run ends and the
    continuous trigger repairs it or starts the next run. for_each iterations
    (``nested``) follow their own ``max_retries`` only.
    """
    continuous = job.continuous
    if continuous is None or continuous.task_retry_mode != "ON_FAILURE" or nested:
        return None
    if not others_on_first_attempt:
        return None
    return min(max_backoff_seconds, 2.0 ** (attempts_made - 1))


def _now_ms() -> int:
    return int(time.time() * 1000)
