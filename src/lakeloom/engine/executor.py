"""The run executor of ``lakeloom serve``: starts runs of stored jobs on worker threads,
applying ``max_concurrent_runs`` and ``queue``, and drains the queue as slots free.

Decisions follow the Jobs API: a run over the job's limit is skipped with
``MAXIMUM_CONCURRENT_RUNS_REACHED`` unless queueing is enabled, in which case it is
recorded ``QUEUED`` and started, oldest first, when a run of the job ends. QUEUED runs
live in the store, so another process (or this one after a restart) resumes them.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.engine import states as st
from lakeloom.engine.api import merged_parameters
from lakeloom.engine.run_handle import RunHandle
from lakeloom.spec.graph import select_only
from lakeloom.spec.loader import LineMap, LoadedJob
from lakeloom.spec.models import Job
from lakeloom.store.run_shape import run_shape
from lakeloom.store.store import now_ms

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine

log = logging.getLogger("lakeloom.executor")

MAX_CONCURRENT = "MAXIMUM_CONCURRENT_RUNS_REACHED"


class RunSpark:
    """One run's Spark session: ``newSession()`` of the process's warm session, made on first use."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._session is not None

    def get(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._engine.spark().newSession()
            return self._session


@dataclass
class Launch:
    """What happened to a start request: the run id and its first state."""

    run_id: int
    state: str  # RUNNING (started), QUEUED, or SKIPPED (over the concurrency limit)


def loaded_job(engine: Engine, job_id: int) -> LoadedJob:
    """The stored job ``job_id`` with its base folder (its file's folder, else the workspace)."""
    row = engine.store.get_job(job_id)
    if row is None:
        raise KeyError(job_id)
    job = Job.model_validate(json.loads(row["settings_json"]))
    source = Path(row["source"]) if row.get("source") else engine.workspace.root / "<api>"
    return LoadedJob(job, source, row.get("job_key"), LineMap())


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

    def start(self, job_id: int, *, trigger_type: str = "ONE_TIME", trigger_info: dict[str, Any] | None = None,
              params: dict[str, str] | None = None, only: list[str] | None = None, run_as: str | None = None,
              queue: bool | None = None, idempotency_token: str | None = None,
              run_type: str = "JOB_RUN", creator: str | None = None) -> Launch:
        """Start (or queue, or skip) a run of stored job ``job_id``.

        Raises KeyError for an unknown job, JobSpecError for unknown parameters or task keys,
        RuntimeError when the executor is shutting down.
        """
        if not self.accepting:
            raise RuntimeError("the server is shutting down; no new runs start")
        loaded = loaded_job(self.engine, job_id)
        job = loaded.job
        job_params = merged_parameters(job, params or {}, loaded)
        selected = sorted(select_only(job, only)) if only else None
        with self._lock:
            if idempotency_token:
                existing = self.store.run_by_idempotency_token(job_id, idempotency_token)
                if existing is not None:
                    row = self.store.get_run(existing)
                    return Launch(existing, row["life_cycle_state"] if row else "RUNNING")
            queue_on = queue if queue is not None else bool(job.queue and job.queue.enabled)
            has_slot = self.store.active_run_count(job_id) < job.max_concurrent_runs
            waiting = bool(self.store.queued_runs(job_id)) if has_slot else False
            state = "PENDING" if has_slot and not waiting else ("QUEUED" if queue_on else "SKIPPED")
            run_id = self.store.create_run(
                job_id=job_id, run_name=job.name, settings=job.model_dump(mode="json", exclude_none=True),
                job_parameters=job_params, trigger_type=trigger_type, trigger_info=_jsonable(trigger_info),
                run_type=run_type, only=selected, base_dir=str(loaded.base_dir),
                run_as=run_as or (job.run_as.principal if job.run_as else None), life_cycle_state=state,
                creator=creator)
            if idempotency_token:
                self.store.update_run(run_id, idempotency_token=idempotency_token)
            if state == "SKIPPED":
                self._skip(run_id, job)
                return Launch(run_id, "SKIPPED")
            if state == "QUEUED":
                self.store.update_run(run_id, state_message="Queued: the job reached its maximum concurrent runs")
                self.store.add_event(run_id, "run_queued", "MAX_CONCURRENT_RUNS_REACHED")
                return Launch(run_id, "QUEUED")
            self._launch(run_id, job_id, loaded, params or {}, only)
            return Launch(run_id, "RUNNING")

    def _skip(self, run_id: int, job: Job) -> None:
        message = f"the job already has {job.max_concurrent_runs} active run(s) (max_concurrent_runs)"
        term = st.termination(MAX_CONCURRENT, message)
        self.store.update_run(run_id, result_state=MAX_CONCURRENT, end_time=now_ms(), state_message=message,
                              termination_code=term["code"], termination_type=term["type"])
        self._after_run_hook(run_id, job)

    def _launch(self, run_id: int, job_id: int, loaded: LoadedJob, params: dict[str, str],
                only: list[str] | None) -> None:
        spark = RunSpark(self.engine) if self.per_run_spark else None

        def work() -> None:
            try:
                self.engine.submit(loaded, params=params, only=only, job_id=job_id, run_id=run_id,
                                   trigger_type=_row_field(self.store, run_id, "trigger_type", "ONE_TIME"),
                                   trigger_info=_trigger_info(self.store, run_id),
                                   run_type=_row_field(self.store, run_id, "run_type", "JOB_RUN"),
                                   run_as=_row_field(self.store, run_id, "run_as", None), spark_provider=spark)
            except Exception as e:  # a run that cannot start still ends, with the reason recorded
                log.exception("run %s of job %s could not run", run_id, job_id)
                self._fail_unstarted(run_id, loaded.job, f"{type(e).__name__}: {e}")
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
        if row is None or row["end_time"] is not None:
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
            self.engine.pm.hook.lakeloom_after_run(run=run, job=job, handle=handle)
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
        """Start queued runs (oldest first) of ``job_id`` (or every job) while slots are free."""
        started: list[int] = []
        if not self.accepting:
            return started
        with self._lock:
            for row in self.store.queued_runs(job_id):
                try:
                    loaded = loaded_job(self.engine, row["job_id"])
                except KeyError:
                    continue
                if self.store.active_run_count(row["job_id"]) >= loaded.job.max_concurrent_runs:
                    continue
                if not self.store.claim_queued_run(row["run_id"]):
                    continue  # another process took it
                params = json.loads(row["job_parameters_json"] or "{}")
                only = json.loads(row["only_json"]) if row["only_json"] else None
                self.store.update_run(row["run_id"], state_message="")
                self._launch(row["run_id"], row["job_id"], loaded, params, only)
                started.append(row["run_id"])
        return started

    # --- cancel, repair, shutdown ----------------------------------------------------------------

    def cancel(self, run_id: int) -> bool:
        """Cancel a run: a QUEUED one ends at once as CANCELED; a running one is stopped."""
        row = self.store.get_run(run_id)
        if row is None:
            return False
        if row["life_cycle_state"] == "QUEUED":
            if self.store.claim_queued_run(run_id):
                term = st.termination(st.CANCELED)
                self.store.update_run(run_id, life_cycle_state="TERMINATED", result_state=st.CANCELED,
                                      end_time=now_ms(), state_message="cancelled while queued",
                                      termination_code=term["code"], termination_type=term["type"])
                self._after_run_hook(run_id, Job.model_validate(json.loads(row["settings_json"])))
                return True
        return self.engine.cancel(run_id)

    def repair(self, run_id: int, *, rerun_tasks: list[str] | None = None, rerun_all_failed: bool = False,
               rerun_dependents: bool = False, params: dict[str, str] | None = None) -> int:
        """Start a repair on a worker thread; returns its repair id once recorded.

        Raises ValueError (or JobSpecError) when the repair cannot start, before anything runs.
        """
        recorded = threading.Event()
        box: dict[str, Any] = {}
        spark = RunSpark(self.engine) if self.per_run_spark else None

        def on_repair(repair_id: int) -> None:
            box["repair_id"] = repair_id
            recorded.set()

        def work() -> None:
            try:
                self.engine.repair(run_id, rerun_tasks=rerun_tasks, rerun_all_failed=rerun_all_failed,
                                   rerun_dependents=rerun_dependents, params=params, spark_provider=spark,
                                   on_repair=on_repair)
            except BaseException as e:
                box["error"] = e
                recorded.set()
            finally:
                with self._lock:
                    self._threads.pop(-run_id, None)
                row = self.store.get_run(run_id)
                if row is not None:
                    self._run_ended(row["job_id"], run_id)

        thread = threading.Thread(target=work, name=f"lakeloom-repair-{run_id}", daemon=True)
        with self._lock:
            self._threads[-run_id] = thread
        thread.start()
        recorded.wait()
        if "error" in box and "repair_id" not in box:
            raise box["error"]
        return int(box["repair_id"])

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


def _row_field(store: Any, run_id: int, name: str, default: Any) -> Any:
    row = store.get_run(run_id)
    return row[name] if row is not None and row[name] is not None else default


def _trigger_info(store: Any, run_id: int) -> dict[str, Any] | None:
    raw = _row_field(store, run_id, "trigger_info_json", None)
    return json.loads(raw) if raw else None


def _jsonable(info: dict[str, Any] | None) -> dict[str, Any] | None:
    return json.loads(json.dumps(info, default=str)) if info else None
