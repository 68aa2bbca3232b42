"""The run coordinator: an event loop over one run's task DAG.

A task starts the moment its last dependency ends (workers report completions on a
queue; there is no polling of task state). Retries (decided in ``engine.retries``),
timeouts, cancellation and the job deadline are timers on the same loop. All writes to the store happen here or on
the task's worker, each as its own transaction.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeloom.engine import retries
from lakeloom.engine import states as st
from lakeloom.engine.attempt import AttemptPlan, AttemptResult
from lakeloom.engine.pool import DaemonPool
from lakeloom.engine.retries import AttemptOutcome
from lakeloom.spec.models import RunIf, Task
from lakeloom.store.store import now_ms

if TYPE_CHECKING:
    from lakeloom.engine.session import RunSession

log = logging.getLogger("lakeloom.engine")

#: run_if values that still run a task after its upstream was cancelled.
_RUN_AFTER_FAILURE = frozenset({RunIf.ALL_DONE, RunIf.AT_LEAST_ONE_FAILED, RunIf.ALL_FAILED})


@dataclass
class TaskState:
    task: Task
    result_state: str | None = None
    condition_outcome: str | None = None
    attempt_number: int = 0  # the next attempt's number
    attempts_made: int = 0  # in this execution
    task_run_id: int | None = None
    waiting_retry: bool = False
    last_result: str | None = None


@dataclass
class Attempt:
    key: str
    number: int
    task_run_id: int
    started_wall_ms: int
    cancel_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    stop_reason: str | None = None  # TIMEDOUT or CANCELED once the coordinator stops it
    finished: bool = False
    job_group: str = ""


class Coordinator:
    """Executes a set of tasks of one run until each has a final result."""

    def __init__(self, session: RunSession, tasks: list[Task], *, initial: dict[str, TaskState] | None = None,
                 max_parallel: int, timeout_seconds: int = 0, parent_cancel: threading.Event | None = None,
                 iteration: int | None = None, parent_task_run_id: int | None = None,
                 input_value: Any = None, has_input: bool = False) -> None:
        self.s = session
        self.tasks = {t.task_key: t for t in tasks}
        self.state: dict[str, TaskState] = dict(initial or {})
        for t in tasks:
            self.state.setdefault(t.task_key, TaskState(t))
            self.state[t.task_key].task = t
        self.down = {k: [d for d in v if d in self.tasks] for k, v in _downstream(tasks).items()}
        self.events: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self.pool = DaemonPool(max_parallel)
        self.max_parallel = max_parallel
        self.running: dict[str, Attempt] = {}
        # Insertion-ordered set: FIFO start order with O(1) membership (a list made fan-outs O(n^2)).
        self.ready: dict[str, None] = {}
        self.timers: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self.cancelled = False
        self.timed_out = False
        self.timeout_seconds = timeout_seconds
        self.parent_cancel = parent_cancel
        self.iteration = iteration
        self.parent_task_run_id = parent_task_run_id
        self.input_value = input_value
        self.has_input = has_input
        self._to_consider: list[str] = []
        self._considering = False
        # Counted, not recomputed: the loop asks after every event (O(n) per event was O(n^2) per run).
        self._remaining = sum(1 for k in self.tasks if self.state[k].result_state is None)

    # --- public -----------------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        """Thread-safe: ask the loop to cancel the run."""
        self.events.put(("cancel", reason, None))

    def run(self) -> dict[str, str]:
        """Run to completion; returns every task's final result state."""
        if self.timeout_seconds:
            self._timer(self.timeout_seconds, "job_deadline", None)
        if self.parent_cancel is not None or self.s.watch_store_cancel:
            self._timer(0.2, "poll_cancel", None)
        for key, ts in self.state.items():
            # A skip earlier in this scan (e.g. a disabled root) may already have queued ``key``.
            if key in self.tasks and ts.result_state is None and key not in self.ready and self._deps_done(key):
                self._consider(key)
        while self._unfinished():
            self._start_ready()
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            try:
                kind, a, b = self.events.get(timeout=timeout)
            except queue.Empty:
                self._fire_timers()
                continue
            if kind == "done":
                self._on_done(a, b)
            elif kind == "cancel":
                self._cancel_run(str(a))
            self._fire_timers()
        self.pool.shutdown()
        return {k: ts.result_state or st.CANCELED for k, ts in self.state.items() if k in self.tasks}

    # --- loop internals ---------------------------------------------------------------

    def _unfinished(self) -> bool:
        return self._remaining > 0

    def _timer(self, delay: float, kind: str, payload: Any) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self._seq), kind, payload))

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, kind, payload = heapq.heappop(self.timers)
            if kind == "retry":
                ts = self.state[payload]
                if ts.waiting_retry and ts.result_state is None:
                    ts.waiting_retry = False
                    self.ready[payload] = None
            elif kind == "deadline":
                if not payload.finished and payload.stop_reason is None:
                    self._stop_attempt(payload, st.TIMEDOUT)
            elif kind == "grace":
                if not payload.finished:
                    self._abandon(payload)
            elif kind == "job_deadline":
                self._job_timeout()
            elif kind == "poll_cancel":
                if (self.parent_cancel is not None and self.parent_cancel.is_set()) or (
                        self.s.watch_store_cancel and self.s.store.cancel_requested(self.s.run_id)):
                    self._cancel_run("cancelled by request")
                elif self._unfinished():
                    self._timer(0.2 if self.parent_cancel is not None else 1.0, "poll_cancel", None)

    def _deps_done(self, key: str) -> bool:
        return all(self.state[d.task_key].result_state is not None
                   for d in self.tasks[key].depends_on if d.task_key in self.state)

    def _consider(self, key: str) -> None:
        """All dependencies of ``key`` ended: run it or give it its skipped result."""
        task = self.tasks[key]
        if task.disabled:
            return self._skip(key, st.DISABLED, "the task is disabled")
        edges = [st.Edge(self.state[d.task_key].result_state or st.CANCELED, d.outcome,
                         self.state[d.task_key].condition_outcome)
                 for d in task.depends_on if d.task_key in self.state]
        verdict = st.evaluate_run_if(task.run_if, edges)
        if verdict is None and (self.cancelled or self.timed_out) and task.run_if not in _RUN_AFTER_FAILURE:
            verdict = st.CANCELED
        if verdict is not None:
            msg = {st.EXCLUDED: "excluded: run_if condition not met or branch not taken",
                   st.UPSTREAM_FAILED: "an upstream task failed", st.UPSTREAM_CANCELED: "an upstream task was cancelled",
                   st.CANCELED: "the run was cancelled before the task started"}.get(verdict, verdict)
            return self._skip(key, verdict, msg)
        self.ready[key] = None

    def _skip(self, key: str, result: str, message: str) -> None:
        ts = self.state[key]
        ts.task_run_id = self.s.record_skipped(key, result, message, ts, self.iteration, self.parent_task_run_id)
        self._finish(key, result)

    def _finish(self, key: str, result: str) -> None:
        if self.state[key].result_state is None and key in self.tasks:
            self._remaining -= 1
        self.state[key].result_state = result
        if self.iteration is None:
            self.s.task_finished(key)
        self._to_consider.extend(self.down.get(key, []))
        if self._considering:
            return  # an outer _finish is draining the work list
        # Iterative, not recursive: a failure early in a 10,000-task chain skips every
        # task after it, which would otherwise recurse once per task.
        self._considering = True
        try:
            while self._to_consider:
                nxt = self._to_consider.pop()
                if self.state[nxt].result_state is None and self._deps_done(nxt) and nxt not in self.ready \
                        and nxt not in self.running:
                    self._consider(nxt)
        finally:
            self._considering = False

    def _start_ready(self) -> None:
        while self.ready and len(self.running) < self.max_parallel:
            key = next(iter(self.ready))
            del self.ready[key]
            ts = self.state[key]
            if ts.result_state is not None:
                continue
            if self.cancelled or self.timed_out:
                if ts.attempts_made > 0 or self.tasks[key].run_if not in _RUN_AFTER_FAILURE:
                    self._skip(key, st.CANCELED, "the run was cancelled")
                    continue
            self._launch(key)

    def _launch(self, key: str) -> None:
        ts = self.state[key]
        task = self.tasks[key]
        number = ts.attempt_number
        ts.attempt_number += 1
        ts.attempts_made += 1
        task_run_id = self.s.record_attempt_start(key, number, self.iteration, self.parent_task_run_id)
        ts.task_run_id = task_run_id
        att = Attempt(key, number, task_run_id, now_ms())
        # Spark remembers a cancelled group for the session's life (future jobs stay cancelled), and
        # two stores in one process (serve with several workspaces, tests) number runs alike.
        att.job_group = f"lakeloom-{self.s.run_id}-{task_run_id}-{uuid.uuid4().hex[:8]}"
        self.running[key] = att
        if task.timeout_seconds:
            self._timer(task.timeout_seconds, "deadline", att)
        plan = AttemptPlan(task=task, attempt_number=number, task_run_id=task_run_id,
                           cancel_event=att.cancel_event, job_group=att.job_group, iteration=self.iteration,
                           input_value=self.input_value, has_input=self.has_input)

        def work() -> None:
            att.thread = threading.current_thread()
            try:
                result = self.s.run_attempt(plan)
            except BaseException as e:  # never lose a completion event
                result = AttemptResult(st.FAILED, error_type=type(e).__name__, message=str(e))
            self.events.put(("done", att, result))

        self.pool.submit(work)

    def _on_done(self, att: Attempt, result: AttemptResult) -> None:
        if att.finished:
            return  # the coordinator already gave up on this attempt
        att.finished = True
        self.running.pop(att.key, None)
        if att.stop_reason is not None:
            result.result_state = att.stop_reason
            result.message = result.message or f"task {att.stop_reason.lower()}"
        self.s.record_attempt_end(att.task_run_id, result)
        self._after_attempt(att, result)

    def _after_attempt(self, att: Attempt, result: AttemptResult) -> None:
        ts = self.state[att.key]
        ts.condition_outcome = result.condition_outcome
        ts.last_result = result.result_state
        outcome = AttemptOutcome(result.result_state, att.stop_reason, ts.attempts_made, att.started_wall_ms)
        delay = retries.retry_delay(self.tasks[att.key], outcome, run_stopped=self.cancelled or self.timed_out,
                                    run_timed_out=self.timed_out, backoff=lambda: self._continuous_backoff(att.key))
        if delay is not None:
            ts.waiting_retry = True
            self._timer(delay, "retry", att.key)
            return
        self._finish(att.key, result.result_state)

    def _continuous_backoff(self, key: str) -> float | None:
        return retries.continuous_backoff(
            self.s.job, attempts_made=self.state[key].attempts_made, nested=self.iteration is not None,
            others_on_first_attempt=any(k != key and self.state[k].attempts_made == 1 for k in self.running),
            max_backoff_seconds=self.s.workspace.continuous_max_backoff_seconds)

    def _stop_attempt(self, att: Attempt, reason: str) -> None:
        att.stop_reason = reason
        att.cancel_event.set()
        self.s.cancel_spark_group(att.job_group)
        self._timer(self.s.cancel_grace_seconds, "grace", att)

    def _abandon(self, att: Attempt) -> None:
        """The attempt ignored its cancellation: record it and move on without it."""
        log.warning("abandoning task %s attempt %s: still running %ss after cancellation",
                    att.key, att.number, self.s.cancel_grace_seconds)
        att.finished = True
        self.running.pop(att.key, None)
        self.pool.abandon(att.thread)
        result = AttemptResult(att.stop_reason or st.CANCELED,
                               message=f"task {(att.stop_reason or 'CANCELED').lower()}; it did not stop within "
                                       f"{self.s.cancel_grace_seconds}s and was abandoned")
        self.s.record_attempt_end(att.task_run_id, result)
        self._after_attempt(att, result)

    def _cancel_run(self, reason: str) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self.s.event("run_cancel_requested", reason)
        for att in list(self.running.values()):
            if att.stop_reason is None:
                self._stop_attempt(att, st.CANCELED)
        self._settle_waiting(st.CANCELED, "the run was cancelled")

    def _job_timeout(self) -> None:
        if self.timed_out or not self._unfinished():
            return
        self.timed_out = True
        self.s.event("run_timed_out", f"the job exceeded its timeout of {self.timeout_seconds}s")
        for att in list(self.running.values()):
            if att.stop_reason is None:
                self._stop_attempt(att, st.TIMEDOUT)
        self._settle_waiting(st.CANCELED, "the job timed out before the task could run")

    def _settle_waiting(self, result: str, message: str) -> None:
        for key, ts in self.state.items():
            if key in self.tasks and ts.waiting_retry and ts.result_state is None:
                ts.waiting_retry = False
                self._finish(key, ts.last_result or result)


def _downstream(tasks: list[Task]) -> dict[str, list[str]]:
    down: dict[str, list[str]] = {t.task_key: [] for t in tasks}
    for t in tasks:
        for d in t.depends_on:
            if d.task_key in down:
                down[d.task_key].append(t.task_key)
    return down
