"""RunSession: the state shared by every task of one run (store, Spark, task values)."""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.engine import states as st
from lakeloom.engine.run_handle import RunHandle
from lakeloom.plugin_api.context import redact_value
from lakeloom.runtime.references import ReferenceScope, TaskRef
from lakeloom.store.store import RunStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.config import Workspace
    from lakeloom.engine.attempt import AttemptPlan, AttemptResult
    from lakeloom.engine.clusters import ClusterRouter
    from lakeloom.engine.coordinator import TaskState
    from lakeloom.plugin_api import RunServices
    from lakeloom.plugin_manager import LakeloomPluginManager
    from lakeloom.spec.models import Job


class RunTaskValues:
    """Task values of one run: an in-memory view, written through to the store."""

    def __init__(self, store: RunStore, run_id: int, initial: dict[str, dict[str, Any]] | None = None,
                 redactions: set[str] | None = None) -> None:
        self._store = store
        self._redactions = redactions if redactions is not None else set()
        self._run_id = run_id
        self._values: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (initial or {}).items()}
        self._lock = threading.Lock()

    def set(self, task_key: str, key: str, value: Any) -> None:
        # Stored redacted; downstream tasks of this run still read the value itself.
        self._store.set_task_value(self._run_id, task_key, key, redact_value(value, self._redactions))
        with self._lock:
            self._values.setdefault(task_key, {})[key] = value

    def get(self, task_key: str, key: str) -> Any:
        with self._lock:
            return self._values[task_key][key]

    def of(self, task_key: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._values.get(task_key, {}))

    def remember(self, task_key: str, key: str, value: Any) -> None:
        """Add a value another process of the run already stored (a job cluster's process)."""
        with self._lock:
            self._values.setdefault(task_key, {})[key] = value

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every value, for a job cluster's process (it reads upstream values locally)."""
        with self._lock:
            return {k: dict(v) for k, v in self._values.items()}

    def load(self, values: dict[str, dict[str, Any]]) -> None:
        """Take the values of :meth:`snapshot` (in a job cluster's process)."""
        with self._lock:
            for task_key, entries in values.items():
                self._values.setdefault(task_key, {}).update(entries)

    def clear(self, task_keys: list[str]) -> None:
        self._store.clear_task_values(self._run_id, task_keys)
        with self._lock:
            for k in task_keys:
                self._values.pop(k, None)


@dataclass
class TaskRecord:
    """What references can see of a task's latest attempt in this run."""

    result_state: str | None = None
    task_run_id: int | None = None
    execution_count: int = 0
    error_code: str | None = None
    output: dict[str, Any] = field(default_factory=dict)


class RunSession:
    """Run-wide services for the coordinator and the attempts of one run."""

    def __init__(self, *, workspace: Workspace, pm: LakeloomPluginManager, store: RunStore, job: Job,
                 job_id: int, run_id: int, base_dir: Path, job_parameters: dict[str, str],
                 start_time_ms: int, trigger_type: str, trigger_info: dict[str, Any] | None,
                 spark: Callable[[], SparkSession], spark_started: Callable[[], bool],
                 services: RunServices, repair_id: int | None = None, repair_count: int = 0,
                 task_values: dict[str, dict[str, Any]] | None = None,
                 records: dict[str, TaskRecord] | None = None, watch_store_cancel: bool = True,
                 redactions: set[str] | None = None, principal: str | None = None) -> None:
        self.workspace = workspace
        #: Whom the run executes as: its run_as, else its creator, else the OS user.
        self.principal = principal
        self.pm = pm
        self.store = store
        self.job = job
        self.job_id = job_id
        self.run_id = run_id
        self.base_dir = base_dir
        self.job_parameters = job_parameters
        self.start_time_ms = start_time_ms
        self.start_time = datetime.fromtimestamp(start_time_ms / 1000, tz=timezone.utc)
        self.trigger_type = trigger_type
        self.trigger_info = trigger_info or {}
        self._spark = spark
        self._spark_started = spark_started
        self.services = services
        self.repair_id = repair_id
        self.repair_count = repair_count
        #: Secret values read by any task of the run (shared with a parent run's).
        self.redactions: set[str] = redactions if redactions is not None else set()
        self.task_values = RunTaskValues(store, run_id, task_values, self.redactions)
        #: What hooks see of this run; its stash holds the plugins' state for the run.
        self.handle = RunHandle(run_id, job_id, job, workspace, store, pm.hook, job_parameters, trigger_type,
                                principal=principal)
        self.records: dict[str, TaskRecord] = dict(records or {})
        self._keys_by_task_run: dict[int, tuple[str, bool]] = {}
        self.watch_store_cancel = watch_store_cancel
        self.cancel_grace_seconds = float(workspace.settings.get("engine", {}).get("cancel_grace_seconds", 5))
        self.log = logging.getLogger("lakeloom.engine")
        self._lock = threading.Lock()
        self._static_settings: dict[tuple[str, int], Any] = {}
        self._logs_base: str | None = None
        self._loggers: dict[str, logging.Logger] = {}
        self._cancelled_groups: set[str] = set()
        #: Where tasks with a job cluster run (None: every task uses the run's session).
        self.router: ClusterRouter | None = None

    # --- settings ---------------------------------------------------------------------

    def static_settings(self, task: Any, tt: Any) -> Any:
        """The parsed settings of a task whose settings hold no ``{{...}}`` reference.

        Parsed once per run and reused by every attempt; None when the settings have
        references (they are then resolved and parsed per attempt).
        """
        key = (task.task_key, id(task))
        if key not in self._static_settings:
            raw = task.settings_raw if task.settings_raw is not None else {}
            has_refs = tt.resolve_references and "{{" in json.dumps(raw, default=str)
            self._static_settings[key] = None if has_refs else tt.settings_model.model_validate(raw)
        return self._static_settings[key]

    # --- paths and loggers ----------------------------------------------------------

    def log_path(self, task_key: str, attempt: int, iteration: int | None) -> Path:
        if self._logs_base is None:
            self._logs_base = str(self.workspace.logs_dir / str(self.run_id))
        sub = f"{task_key}/iteration-{iteration}" if iteration is not None else task_key
        return Path(f"{self._logs_base}/{sub}/{attempt}.log")

    def task_logger(self, task_key: str) -> logging.Logger:
        logger = self._loggers.get(task_key)
        if logger is None:
            logger = self._loggers[task_key] = logging.getLogger(f"lakeloom.task.{task_key}")
        return logger

    # --- Spark ---------------------------------------------------------------------

    def spark_binder(self, job_group: str, pool: str, spark: Callable[[], SparkSession] | None = None,
                     task_run_id: int | None = None) -> SparkBinder:
        """A provider that binds the calling thread to the attempt's job group and pool.

        ``spark`` is the session of the attempt's job cluster when it runs in this process
        (default: the run's session).
        """
        return SparkBinder(self, job_group, pool, spark or self.spark, task_run_id)

    # --- attempts and job clusters -------------------------------------------------------

    def run_attempt(self, plan: AttemptPlan) -> AttemptResult:
        """Run one attempt where its task's cluster is (this process or the cluster's); never raises."""
        if self.router is not None:
            return self.router.run_attempt(plan)
        from lakeloom.engine.attempt import execute_attempt

        return execute_attempt(self, plan)

    def task_finished(self, task_key: str) -> None:
        """A task of the run has its final result (its cluster may stop when it was the last)."""
        if self.router is not None:
            self.router.task_finished(task_key)

    def spark_started(self) -> bool:
        """Whether the run's Spark session exists (asking starts no JVM)."""
        return self._spark_started()

    def spark(self) -> SparkSession:
        return self._spark()

    def spark_group_cancelled(self, job_group: str) -> bool:
        with self._lock:
            return job_group in self._cancelled_groups

    def cancel_spark_group(self, job_group: str) -> None:
        """Cancel the attempt's Spark jobs, now and when they are submitted later.

        A timeout can fire while the session is still starting; the group is remembered and
        cancelled as soon as the attempt's thread gets the session.
        """
        with self._lock:
            self._cancelled_groups.add(job_group)
        if self.router is not None and self.router.cancel_remote(job_group):
            return
        if not self._spark_started():
            return
        try:
            from lakeloom.runtime.spark import cancel_job_group

            cancel_job_group(self._spark(), job_group)
        except Exception:  # cancelling is best effort; the attempt is stopped either way
            self.log.exception("could not cancel Spark job group %s", job_group)

    # --- references ------------------------------------------------------------------

    def reference_scope(self, plan: AttemptPlan) -> ReferenceScope:
        notebook = plan.task.task_blocks.get("notebook_task")
        return ReferenceScope(
            job_id=self.job_id, job_name=self.job.name, run_id=self.run_id, start_time=self.start_time,
            task_name=plan.task.task_key, task_run_id=plan.task_run_id, repair_count=self.repair_count,
            job_parameters=self.job_parameters, trigger_type=self.trigger_type, trigger_info=self.trigger_info,
            trigger_time=self.trigger_info.get("time"), execution_count=plan.attempt_number + 1,
            attempt_number=plan.attempt_number,
            task_notebook_path=notebook.get("notebook_path") if isinstance(notebook, dict) else None,
            task_lookup=self._task_ref, input_value=plan.input_value, has_input=plan.has_input,
            workspace_id=self.workspace.workspace_id, workspace_url=self.workspace.url)

    def _task_ref(self, task_key: str) -> TaskRef | None:
        rec = self.records.get(task_key)
        if rec is None:
            return None
        output = rec.output.get("sql_output") or {}
        return TaskRef(values=self.task_values.of(task_key), result_state=rec.result_state, run_id=rec.task_run_id,
                       execution_count=rec.execution_count, error_code=rec.error_code, output=output)

    # --- recording -------------------------------------------------------------------

    def record_attempt_start(self, key: str, number: int, iteration: int | None,
                             parent_task_run_id: int | None) -> int:
        task_run_id = self.store.start_task_run(
            self.run_id, key, attempt_number=number, execution_count=number + 1, repair_id=self.repair_id,
            parent_task_run_id=parent_task_run_id, iteration=iteration)
        nested = iteration is not None
        with self._lock:
            self._keys_by_task_run[task_run_id] = (key, nested)
            if not nested:
                rec = self.records.setdefault(key, TaskRecord())
                rec.task_run_id, rec.execution_count, rec.result_state = task_run_id, number + 1, None
        return task_run_id

    def record_attempt_end(self, task_run_id: int, result: AttemptResult) -> None:
        code = st.termination(result.result_state)["code"]
        self.store.end_task_run(
            task_run_id, result_state=result.result_state, state_message=result.message, termination_code=code,
            error_type=result.error_type, error_trace=result.trace, output=result.output,
            condition_outcome=result.condition_outcome,
            log_path=self.workspace.stored_path(result.log_path) if result.log_path else None,
            params=result.params, child_run_ids=result.child_run_ids)
        with self._lock:
            key, nested = self._keys_by_task_run.get(task_run_id, ("", True))
            if not nested:
                rec = self.records.setdefault(key, TaskRecord())
                rec.result_state = result.result_state
                rec.output = result.output
                rec.error_code = code if result.result_state != st.SUCCESS else None

    def record_skipped(self, key: str, result_state: str, message: str, ts: TaskState, iteration: int | None,
                       parent_task_run_id: int | None) -> int:
        task_run_id = self.store.start_task_run(
            self.run_id, key, attempt_number=ts.attempt_number, execution_count=ts.attempt_number,
            repair_id=self.repair_id, life_cycle_state="SKIPPED" if result_state != st.CANCELED else "TERMINATED",
            result_state=result_state, state_message=message, parent_task_run_id=parent_task_run_id,
            iteration=iteration, end=True, termination_code=st.termination(result_state)["code"])
        if iteration is None:
            with self._lock:
                rec = self.records.setdefault(key, TaskRecord())
                rec.result_state, rec.task_run_id = result_state, task_run_id
        return task_run_id

    def event(self, type_: str, message: str = "", **data: Any) -> None:
        self.store.add_event(self.run_id, type_, message, data=data or None)


class SparkBinder:
    """The Spark provider of one attempt: binds each thread that asks to the attempt's job group."""

    def __init__(self, session: RunSession, job_group: str, pool: str, spark: Callable[[], SparkSession],
                 task_run_id: int | None = None) -> None:
        self._session = session
        self.job_group = job_group
        self._pool = pool
        self._spark = spark
        # Read back by the lineage listener from the Spark jobs a statement starts.
        self._properties = {"lakeloom.job_id": str(session.job_id), "lakeloom.job_name": session.job.name,
                            "lakeloom.run_id": str(session.run_id), "lakeloom.task_key": pool,
                            "lakeloom.task_run_id": "" if task_run_id is None else str(task_run_id)}
        if session.principal:  # governance checks every statement of the thread for this principal
            self._properties["lakeloom.principal"] = session.principal
        self._bound: set[int] = set()

    def __call__(self) -> SparkSession:
        spark = self._spark()
        ident = threading.get_ident()
        if ident not in self._bound:
            from lakeloom.runtime.spark import bind_task_thread, cancel_job_group

            bind_task_thread(spark, self.job_group, self._pool,
                             f"lakeloom run {self._session.run_id} task {self._pool}",
                             run_id=self._session.run_id, task_key=self._pool, properties=self._properties)
            self._bound.add(ident)
            if self._session.spark_group_cancelled(self.job_group):
                cancel_job_group(spark, self.job_group)  # timed out while the session started
        return spark

    def release(self) -> None:
        """Unbind the calling thread (a pooled worker about to run another attempt)."""
        ident = threading.get_ident()
        if ident in self._bound and self._session.spark_started():
            from lakeloom.runtime.spark import unbind_task_thread

            self._bound.discard(ident)
            try:
                unbind_task_thread(self._spark())
            except Exception:  # a stopped session has nothing left to unbind
                self._session.log.debug("could not unbind %s", self.job_group, exc_info=True)
