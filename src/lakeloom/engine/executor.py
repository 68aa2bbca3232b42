"""The run executor of ``lakeloom serve``: starts runs of stored jobs on worker threads,
applying ``max_concurrent_runs`` and ``queue``, and drains the queue as slots free.

Decisions follow the Jobs API: a run over the job's limit is skipped with
``MAXIMUM_CONCURRENT_RUNS_REACHED`` unless queueing is enabled, in which case it is
recorded ``QUEUED`` and started, oldest first, when a run of the job ends. QUEUED runs
live in the store, so another process (or this one after a restart) resumes them.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.engine import states as st
from lakeloom.engine.observers import call_each
from lakeloom.engine.prepare import (PreparedRun, RunPlan, RunTrigger, plan_run, record_run, selected_tasks,
                                     stored_loaded_job)
from lakeloom.engine.repair import prepare_repair
from lakeloom.engine.run_handle import RunHandle
from lakeloom.runtime.derived_session import DerivedSession
from lakeloom.spec.loader import JobSpecError
from lakeloom.store.run_shape import run_shape
from lakeloom.store.store import now_ms

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine
    from lakeloom.spec.models import Job
    from lakeloom.store.records import RunRecord, StoredJob

log = logging.getLogger("lakeloom.executor")

MAX_CONCURRENT = "MAXIMUM_CONCURRENT_RUNS_REACHED"


@dataclass(frozen=True)
class Launch:
    """What happened to a start request: the run id, its first state and why.

    ``state`` is RUNNING (started), QUEUED, SKIPPED (over the concurrency limit; the
    reason is in ``state_message``) or, for a repeated idempotency token, the state of
    the run the token started.
    """

    run_id: int
    state: str
    state_message: str = ""


class RunExecutor:
    """Starts runs on daemon threads; thread-safe. ``per_run_spark`` gives each run its own
    ``newSession()`` of the engine's session instead of sharing the session itself."""

    def __init__(self, engine: Engine, *, per_run_spark: bool = True) -> None:
        self.engine = engine
        self.store = engine.store
        self.per_run_spark = per_run_spark
        self.accepting = True
        self._lock = threading.RLock()
        self._threads: dict[int, threading.Thread] = {}
        self.on_run_end: list[Callable[[int, int], None]] = []  # (job_id, run_id), after the queue is drained
        engine.active  # noqa: B018 - create the registry before runs race to create it

    # --- starting runs --------------------------------------------------------------------

    def start(self, stored: StoredJob, *, trigger: RunTrigger = RunTrigger(), params: dict[str, str] | None = None,
              only: list[str] | None = None, queue: bool | None = None,
              idempotency_token: str | None = None) -> Launch:
        """Start (or queue, or skip) a run of ``stored`` (a job as read from the store).

        Raises JobSpecError for unknown parameters, ValueError for unknown ``only`` task
        keys, RuntimeError when the executor is shutting down. An invalid job is recorded
        as a run that fails at once (INVALID_RUN_CONFIGURATION), as on Databricks.
        """
        if not self.accepting:
            raise RuntimeError("the server is shutting down; no new runs start")
        loaded = stored_loaded_job(stored, self.engine.workspace.root)
        plan = plan_run(loaded, self.engine.pm, params=params, only=only, defer_problems=True,
                        workspace=self.engine.workspace)
        job = plan.job
        with self._lock:
            if idempotency_token:
                existing = self.store.run_by_idempotency_token(stored.job_id, idempotency_token)
                if existing is not None:
                    row = self.store.get_run(existing)
                    return Launch(existing, row.life_cycle_state if row else "RUNNING",
                                  row.state_message if row else "")
            queue_on = queue if queue is not None else bool(job.queue and job.queue.enabled)
            has_slot = self.store.active_run_count(stored.job_id) < job.max_concurrent_runs
            waiting = bool(self.store.queued_runs(stored.job_id)) if has_slot else False
            state = "PENDING" if has_slot and not waiting else ("QUEUED" if queue_on else "SKIPPED")
            prepared = record_run(self.store, plan, job_id=stored.job_id, trigger=trigger, state=state)
            if idempotency_token:
                self.store.update_run(prepared.run_id, idempotency_token=idempotency_token)
            if state == "SKIPPED":
                message = self._skip(prepared.run_id, job)
                return Launch(prepared.run_id, "SKIPPED", message)
            if state == "QUEUED":
                message = "Queued: the job reached its maximum concurrent runs"
                self.store.update_run(prepared.run_id, state_message=message)
                self.store.add_event(prepared.run_id, "run_queued", "MAX_CONCURRENT_RUNS_REACHED")
                return Launch(prepared.run_id, "QUEUED", message)
            self._launch(prepared)
            return Launch(prepared.run_id, "RUNNING")

    def _skip(self, run_id: int, job: Job) -> str:
        message = f"the job already has {job.max_concurrent_runs} active run(s) (max_concurrent_runs)"
        term = st.termination(MAX_CONCURRENT, message)
        self.store.update_run(run_id, result_state=MAX_CONCURRENT, end_time=now_ms(), state_message=message,
                              termination_code=term["code"], termination_type=term["type"])
        self._after_run_hook(run_id, job)
        return message

    def _launch(self, prepared: PreparedRun) -> None:
        """Execute a PENDING prepared run on a worker thread."""
        spark = DerivedSession(self.engine.spark) if self.per_run_spark else None
        run_id, job_id = prepared.run_id, prepared.job_id

        def work() -> None:
            try:
                if prepared.plan.problem is not None:
                    raise prepared.plan.problem
                self.engine.execute(prepared.started(self.store), spark_provider=spark)
            except Exception as e:  # a run that cannot start still ends, with the reason recorded
                log.exception("run %s of job %s could not run", run_id, job_id)
                self._fail_unstarted(run_id, prepared.job, f"{type(e).__name__}: {e}")
            finally:
                with self._lock:
                    self._threads.pop(run_id, None)
                self._run_ended(job_id, run_id)

        thread = threading.Thread(target=work, name=f"lakeloom-run-{run_id}", daemon=True)
        with self._lock:
            self._threads[run_id] = thread
        thread.start()

    def _fail_unstarted(self, run_id: int, job: Job, message: str) -> None:
        row = self.store.get_run(run_id)
        if row is None or row.end_time is not None:
            return
        self.store.update_run(run_id, life_cycle_state="INTERNAL_ERROR", result_state=st.FAILED, end_time=now_ms(),
                              state_message=message[:4000], termination_code="INVALID_RUN_CONFIGURATION",
                              termination_type="CLIENT_ERROR")
        self._after_run_hook(run_id, job)

    def _after_run_hook(self, run_id: int, job: Job) -> None:
        """``lakeloom_after_run`` for a run that never started (so no hook saw it before)."""
        try:
            run = run_shape(self.store, run_id) or {}
            handle = RunHandle(run_id, int(run.get("job_id", 0)), job, self.engine.workspace, self.store,
                               self.engine.pm.hook,
                               {p["name"]: p["value"] for p in run.get("job_parameters", [])},
                               str(run.get("trigger", "ONE_TIME")))
            call_each(self.engine.pm.hook.lakeloom_after_run, log, run=run, job=job, handle=handle)
        except Exception:
            log.exception("lakeloom_after_run failed for run %s", run_id)

    def _run_ended(self, job_id: int, run_id: int) -> None:
        self.drain_queue(job_id)
        for cb in list(self.on_run_end):
            try:
                cb(job_id, run_id)
            except Exception:
                log.exception("run-end callback failed")

    # --- the queue ----------------------------------------------------------------------------

    def drain_queue(self, job_id: int | None = None) -> list[int]:
        """Start queued runs (oldest first) of ``job_id`` (or every job) while slots are free.

        A queued run starts with its job's settings as they are when it starts.
        """
        started: list[int] = []
        if not self.accepting:
            return started
        with self._lock:
            for run in self.store.queued_runs(job_id):
                stored = self.store.get_job(run.job_id)
                if stored is None:
                    continue
                if self.store.active_run_count(run.job_id) >= stored.job.max_concurrent_runs:
                    continue
                if not self.store.claim_queued_run(run.run_id):
                    continue  # another process took it
                self.store.update_run(run.run_id, state_message="")
                self._launch(self._queued(stored, run))
                started.append(run.run_id)
        return started

    def _queued(self, stored: StoredJob, run: RunRecord) -> PreparedRun:
        """A queued run prepared again with its job's current settings (a problem fails it when it starts)."""
        loaded = stored_loaded_job(stored, self.engine.workspace.root)
        trigger = RunTrigger(run.trigger_type, run.trigger_info, run.run_type, run.run_as, run.creator)
        try:
            plan = plan_run(loaded, self.engine.pm, params=run.job_parameters, only=run.only, defer_problems=True,
                            workspace=self.engine.workspace)
        except (JobSpecError, ValueError) as e:
            plan = RunPlan(loaded, run.job_parameters, None, stored.settings, problem=e)
        return PreparedRun(plan=plan, job_id=run.job_id, run_id=run.run_id, trigger=trigger,
                           start_time_ms=run.start_time, state="PENDING", timeout_seconds=plan.job.timeout_seconds,
                           tasks=selected_tasks(plan.job, plan.selected))

    # --- cancel, repair, shutdown ----------------------------------------------------------------

    def cancel(self, run_id: int) -> bool:
        """Cancel a run: a QUEUED one ends at once as CANCELED; a running one is stopped."""
        row = self.store.get_run(run_id)
        if row is None:
            return False
        if row.life_cycle_state == "QUEUED":
            if self.store.claim_queued_run(run_id):
                term = st.termination(st.CANCELED)
                self.store.update_run(run_id, life_cycle_state="TERMINATED", result_state=st.CANCELED,
                                      end_time=now_ms(), state_message="cancelled while queued",
                                      termination_code=term["code"], termination_type=term["type"])
                self._after_run_hook(run_id, row.job)
                return True
        return self.engine.cancel(run_id)

    def repair(self, run_id: int, *, rerun_tasks: list[str] | None = None, rerun_all_failed: bool = False,
               rerun_dependents: bool = False, params: dict[str, str] | None = None) -> int:
        """Record a repair and run it on a worker thread; returns its repair id.

        Raises ValueError (or JobSpecError) when the repair cannot start, before anything runs.
        """
        prepared = prepare_repair(self.store, self.engine.workspace, self.engine.pm, run_id, rerun_tasks=rerun_tasks,
                                  rerun_all_failed=rerun_all_failed, rerun_dependents=rerun_dependents, params=params)
        assert prepared.repair is not None
        repair_id = prepared.repair.repair_id
        spark = DerivedSession(self.engine.spark) if self.per_run_spark else None

        def work() -> None:
            try:
                self.engine.execute(prepared, spark_provider=spark)
            except Exception:
                log.exception("repair %s of run %s failed", repair_id, run_id)
            finally:
                with self._lock:
                    self._threads.pop(-run_id, None)
                self._run_ended(prepared.job_id, run_id)

        thread = threading.Thread(target=work, name=f"lakeloom-repair-{run_id}", daemon=True)
        with self._lock:
            self._threads[-run_id] = thread
        thread.start()
        return repair_id

    def active_run_ids(self) -> list[int]:
        with self._lock:
            return [abs(k) for k in self._threads]

    def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting runs, give running ones ``grace_seconds``, then cancel the rest and wait."""
        self.accepting = False
        import time

        deadline = time.monotonic() + grace_seconds
        for t in self._snapshot():
            t.join(max(0.0, deadline - time.monotonic()))
        left = self._snapshot()
        if left:
            log.warning("cancelling %d run(s) still going after the %ss drain period", len(left), grace_seconds)
            for run_id in self.active_run_ids():
                self.engine.cancel(run_id)
            for t in left:
                t.join(30)

    def _snapshot(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._threads.values())
