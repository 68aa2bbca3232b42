"""Running and repairing jobs: the entry points the CLI, the server and tests use."""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from lakeloom.engine import states as st
from lakeloom.engine.coordinator import Coordinator, TaskState
from lakeloom.engine.child_access import authorize_child_run, stored_job_row
from lakeloom.engine.registry import resolve_job
from lakeloom.engine.services import EngineServices
from lakeloom.engine.session import RunSession, TaskRecord
from lakeloom.engine.validate import require_valid
from lakeloom.plugin_api import TaskContext
from lakeloom.plugin_api.context import redact_value
from lakeloom.spec.graph import descendants, select_only
from lakeloom.spec.loader import JobSpecError, LoadedJob, SpecError
from lakeloom.spec.models import Job, Task
from lakeloom.store.run_shape import run_shape
from lakeloom.store.store import RunStore, now_ms, open_store

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_manager import LakeloomPluginManager


class SparkProvider(Protocol):
    """A source of one run's Spark session (``SparkSessionProvider`` has this shape)."""

    @property
    def started(self) -> bool: ...

    def get(self) -> Any: ...

log = logging.getLogger("lakeloom.engine")


@dataclass
class Engine:
    """The pieces a run needs, built once per process (or per test)."""

    workspace: Workspace
    pm: LakeloomPluginManager
    store: RunStore
    spark_provider: Any = None  # lakeloom.runtime.spark.SparkSessionProvider, created lazily
    #: Coordinators of the runs this process is driving, by run id (for cancel and for_each).
    active: dict[int, Coordinator] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, workspace: Workspace | None = None, pm: LakeloomPluginManager | None = None) -> Engine:
        from lakeloom.config import load_workspace
        from lakeloom.plugin_manager import build_plugin_manager

        ws = workspace or load_workspace()
        pm = pm or build_plugin_manager(ws.disabled_plugins)
        ws.ensure_state_dir()
        store = open_store(ws.store_url)
        store.reap_orphans()
        return cls(ws, pm, store)

    # --- Spark ---------------------------------------------------------------------

    def spark(self) -> Any:
        if self.spark_provider is None:
            from lakeloom.runtime.spark import SparkSessionProvider

            conf: dict[str, str] = {}
            for part in self.pm.hook.lakeloom_spark_conf(workspace=self.workspace):
                conf.update(part or {})
            self.spark_provider = SparkSessionProvider(self.workspace, plugin_conf=conf)
        return self.spark_provider.get()

    def spark_started(self) -> bool:
        return self.spark_provider is not None and self.spark_provider.started

    def stop_spark(self) -> None:
        if self.spark_provider is not None:
            self.spark_provider.stop()
            self.spark_provider = None

    # --- runs ------------------------------------------------------------------------

    def submit(self, target: str | Path | LoadedJob | Job, *, params: dict[str, str] | None = None,
               only: list[str] | None = None, job_key: str | None = None, trigger_type: str = "ONE_TIME",
               trigger_info: dict[str, Any] | None = None, run_type: str = "JOB_RUN",
               parent: TaskContext | None = None, timeout_seconds: int | None = None,
               base_dir: Path | None = None, run_as: str | None = None,
               on_created: Callable[[int], None] | None = None,
               cancel_event: threading.Event | None = None, job_id: int | None = None,
               run_id: int | None = None, spark_provider: SparkProvider | None = None,
               parent_principal: str | None = None) -> dict[str, Any]:
        """Validate, record and execute one run; return the final ``Run`` shape.

        A child run (``parent``) of a parent that runs as ``parent_principal`` needs that
        principal to hold CAN_MANAGE_RUN on the child job (PermissionError otherwise, before
        anything is recorded); the child runs as the child job's ``run_as``, else its owner,
        else the parent's principal.

        ``job_id`` runs the job under that existing id (jobs of the store, e.g. created
        through the API) instead of upserting it by name and source. ``run_id`` starts an
        already recorded run (QUEUED or PENDING, e.g. created by the run executor)
        instead of recording a new one. ``spark_provider`` (``get()`` and ``started``)
        gives this run its own Spark session, e.g. a ``newSession()`` of a warm one.
        """
        loaded = resolve_job(target, self.workspace, self.pm, job_key=job_key, store=self.store, base_dir=base_dir)
        for warning in require_valid(loaded, self.pm):
            log.warning(warning.format())
        job = loaded.job
        if parent is not None and job_id is None and not isinstance(target, (Job, LoadedJob)):
            stored = stored_job_row(self.store, target, loaded)  # a child run belongs to the stored job itself
            job_id = stored["job_id"] if stored else None
        if parent_principal and not isinstance(target, (Job, LoadedJob)):
            run_as = run_as or authorize_child_run(self.store, self.workspace, parent_principal, target, loaded)
        job_params = merged_parameters(job, params or {}, loaded)
        selected = select_only(job, only) if only else None
        settings = job.model_dump(mode="json", exclude_none=True, by_alias=True)
        if job_id is None:
            job_id = self.store.upsert_job(job.name, settings, str(loaded.source), loaded.key)
        redactions = parent.redactions if parent else None
        if run_id is None:
            run_id = self.store.create_run(
                job_id=job_id, run_name=job.name, settings=settings,
                job_parameters=redact_value(job_params, redactions) if redactions else job_params,
                trigger_type=trigger_type, trigger_info=_jsonable(trigger_info), run_type=run_type,
                parent_run_id=parent.run_id if parent else None,
                parent_task_run_id=parent.task_run_id if parent else None,
                only=sorted(selected) if selected else None, base_dir=str(loaded.base_dir),
                run_as=run_as or (job.run_as.principal if job.run_as else None), life_cycle_state="RUNNING",
                creator=parent_principal)
        else:
            self.store.update_run(run_id, life_cycle_state="RUNNING", start_time=now_ms(),
                                  settings_json=json.dumps(settings), base_dir=str(loaded.base_dir))
            self.store.claim_run(run_id)
        if on_created:
            on_created(run_id)
        tasks = [t for t in job.tasks if selected is None or t.task_key in selected]
        if selected is not None:
            tasks = [_without_unselected_deps(t, selected) for t in tasks]
        row = self.store.get_run(run_id)
        assert row is not None
        session = self._session(loaded, job_id, run_id, job_params, row["start_time"], trigger_type, trigger_info,
                                watch_store_cancel=parent is None, spark_provider=spark_provider,
                                redactions=redactions)
        return self._execute(session, tasks, initial=None, timeout=job.timeout_seconds if timeout_seconds is None
                             else timeout_seconds, parent_cancel=parent.cancel_event if parent else cancel_event)

    def _session(self, loaded: LoadedJob, job_id: int, run_id: int, job_params: dict[str, str], start_ms: int,
                 trigger_type: str, trigger_info: dict[str, Any] | None, *,
                 spark_provider: SparkProvider | None = None, **kw: Any) -> RunSession:
        spark, started = (spark_provider.get, lambda: spark_provider.started) if spark_provider else (
            self.spark, self.spark_started)
        return RunSession(workspace=self.workspace, pm=self.pm, store=self.store, job=loaded.job, job_id=job_id,
                          run_id=run_id, base_dir=loaded.base_dir, job_parameters=job_params,
                          start_time_ms=start_ms, trigger_type=trigger_type, trigger_info=trigger_info,
                          spark=spark, spark_started=started, services=EngineServices(self), **kw)

    def _execute(self, session: RunSession, tasks: list[Task], *, initial: dict[str, TaskState] | None,
                 timeout: int, parent_cancel: threading.Event | None, repair_id: int | None = None) -> dict[str, Any]:
        from lakeloom.runtime import logcapture

        logcapture.install()
        self._install_runtime_shims()
        run_id = session.run_id
        before = run_shape(self.store, run_id, include_tasks=False) or {}
        _quiet(self.pm.hook.lakeloom_before_run, run=before, job=session.job, handle=session.handle)
        coord = Coordinator(session, tasks, initial=initial, max_parallel=self.workspace.max_parallel_tasks,
                            timeout_seconds=timeout, parent_cancel=parent_cancel)
        self.active[run_id] = coord
        try:
            results = coord.run()
        except BaseException as e:  # record the crash before re-raising (KeyboardInterrupt included)
            self._finish(run_id, st.FAILED, f"the run coordinator failed: {type(e).__name__}: {e}", repair_id)
            raise
        finally:
            self.active.pop(run_id, None)
        all_results = {k: ts.result_state or st.CANCELED for k, ts in coord.state.items()}
        leaves = _leaves([ts.task for ts in coord.state.values()])
        result = st.run_result(all_results, leaves, cancelled=coord.cancelled, timed_out=coord.timed_out)
        failed = sorted(k for k, v in all_results.items() if v in st.FAILED_STATES | st.CANCELED_STATES)
        message = "" if result == st.SUCCESS else (
            f"{len(failed)} task(s) did not succeed: {', '.join(failed)}" if failed else result.lower())
        self._finish(run_id, result, message, repair_id)
        final = run_shape(self.store, run_id) or {}
        _quiet(self.pm.hook.lakeloom_after_run, run=final, job=session.job, handle=session.handle)
        return final

    def _finish(self, run_id: int, result: str, message: str, repair_id: int | None) -> None:
        term = st.termination(result, message)
        self.store.update_run(run_id, life_cycle_state="TERMINATED", result_state=result, end_time=now_ms(),
                              state_message=message, termination_code=term["code"], termination_type=term["type"])
        if repair_id is not None:
            self.store.finish_repair(repair_id, result)

    def cancel(self, run_id: int) -> bool:
        """Cancel a run: at once when this process drives it, else through the store."""
        coord = self.active.get(run_id)
        if coord is not None:
            coord.cancel("cancelled by request")
            return True
        row = self.store.get_run(run_id)
        if row is None or row["life_cycle_state"] not in ("PENDING", "RUNNING", "QUEUED", "WAITING_FOR_RETRY"):
            return False
        self.store.request_cancel(run_id)
        return True

    def _install_runtime_shims(self) -> None:
        try:
            from lakeloom.runtime.dbutils import install_runtime_shims
        except ImportError:
            return
        install_runtime_shims()

    # --- repair -----------------------------------------------------------------------

    def repair(self, run_id: int, *, rerun_tasks: list[str] | None = None, rerun_all_failed: bool = False,
               rerun_dependents: bool = False, params: dict[str, str] | None = None,
               spark_provider: SparkProvider | None = None,
               on_repair: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Re-run tasks inside run ``run_id``, keeping earlier attempts and the other tasks' values.

        ``on_repair(repair_id)`` is called once the repair is recorded, before tasks start.
        """
        row = self.store.get_run(run_id)
        if row is None:
            raise JobSpecError([SpecError(f"run {run_id}", None, "no such run")])
        if row["life_cycle_state"] in ("PENDING", "RUNNING", "QUEUED", "WAITING_FOR_RETRY"):
            raise ValueError(f"run {run_id} is still in progress; cancel it or wait before repairing")
        loaded = self._job_for_repair(row)
        job = loaded.job
        require_valid(loaded, self.pm)
        rows = [r for r in self.store.task_runs(run_id) if r["iteration"] is None]
        latest: dict[str, dict[str, Any]] = {}
        for r in rows:
            latest[r["task_key"]] = r
        in_run = set(json.loads(row["only_json"])) if row["only_json"] else {t.task_key for t in job.tasks}
        in_run &= {t.task_key for t in job.tasks}
        if rerun_all_failed:
            chosen = {k for k, r in latest.items() if k in in_run and r["result_state"] in
                      st.FAILED_STATES | st.CANCELED_STATES}
        else:
            if rerun_tasks is None or not rerun_tasks:
                raise ValueError("repair needs --rerun-tasks or --rerun-all-failed")
            unknown = [k for k in rerun_tasks if k not in in_run]
            if unknown:
                raise ValueError(f"cannot rerun unknown task(s) {', '.join(unknown)}")
            chosen = set(rerun_tasks)
        if rerun_dependents:
            for k in list(chosen):
                chosen |= descendants(job, k) & in_run
        if not chosen:
            raise ValueError(f"run {run_id} has no failed tasks to repair")
        old_params = json.loads(row["job_parameters_json"] or "{}")
        job_params = {**old_params, **(params or {})} if params else old_params
        repair_id = self.store.create_repair(run_id, sorted(chosen))
        repair_count = len(self.store.repairs(run_id))
        self.store.update_run(run_id, life_cycle_state="RUNNING", result_state=None, end_time=None,
                              repair_count=repair_count, cancel_requested=False, job_parameters_json=json.dumps(job_params),
                              termination_code=None, termination_type=None, state_message="")
        self.store.claim_run(run_id)
        if on_repair is not None:
            on_repair(repair_id)
        self.store.add_event(run_id, "repair_started", f"rerunning {', '.join(sorted(chosen))}")
        values = self.store.task_values(run_id)
        initial: dict[str, TaskState] = {}
        records: dict[str, TaskRecord] = {}
        for t in job.tasks:
            if t.task_key not in in_run:
                continue
            prev = latest.get(t.task_key)
            next_attempt = max([r["attempt_number"] + 1 for r in rows if r["task_key"] == t.task_key], default=0)
            ts = TaskState(t, attempt_number=next_attempt)
            if t.task_key not in chosen and prev is not None:
                ts.result_state = prev["result_state"]
                ts.condition_outcome = prev["condition_outcome"]
                ts.task_run_id = prev["task_run_id"]
                records[t.task_key] = TaskRecord(prev["result_state"], prev["task_run_id"], prev["execution_count"],
                                                 None, json.loads(prev["output_json"] or "{}"))
            initial[t.task_key] = ts
        for k in chosen:
            values.pop(k, None)
        session = self._session(loaded, row["job_id"], run_id, job_params, row["start_time"], row["trigger_type"],
                                json.loads(row["trigger_info_json"] or "null"), repair_id=repair_id,
                                repair_count=repair_count, task_values=values, records=records,
                                spark_provider=spark_provider)
        session.task_values.clear(sorted(chosen))
        tasks = [t if row["only_json"] is None else _without_unselected_deps(t, in_run)
                 for t in job.tasks if t.task_key in in_run]
        return self._execute(session, tasks, initial=initial, timeout=job.timeout_seconds, parent_cancel=None,
                             repair_id=repair_id)

    def _job_for_repair(self, row: dict[str, Any]) -> LoadedJob:
        """Databricks reruns with the current job settings: the job file as it is now, if it still exists."""
        job_row = self.store.get_job(row["job_id"])
        source = job_row.get("source") if job_row else None
        if source and Path(source).exists():
            return resolve_job(source, self.workspace, self.pm, job_key=job_row.get("job_key"))
        from lakeloom.spec.loader import LineMap

        job = Job.model_validate(json.loads(row["settings_json"]))
        return LoadedJob(job, Path(row["base_dir"] or ".") / "<snapshot>", None, LineMap())


def merged_parameters(job: Job, overrides: dict[str, str], loaded: LoadedJob | None = None) -> dict[str, str]:
    """Job parameter defaults overridden by run-time values; unknown names are an error."""
    declared = job.parameter_defaults
    unknown = [k for k in overrides if k not in declared]
    if unknown:
        src = str(loaded.source) if loaded else job.name
        raise JobSpecError([SpecError(src, None, f"unknown job parameter(s) {', '.join(unknown)}; "
                                      f"declared: {', '.join(declared) or 'none'}", field="parameters")])
    return {**declared, **{k: str(v) for k, v in overrides.items()}}


def _without_unselected_deps(task: Task, selected: set[str]) -> Task:
    deps = [d for d in task.depends_on if d.task_key in selected]
    return task if len(deps) == len(task.depends_on) else task.model_copy(update={"depends_on": deps})


def _leaves(tasks: list[Task]) -> list[str]:
    keys = {t.task_key for t in tasks}
    has_down = {d.task_key for t in tasks for d in t.depends_on if d.task_key in keys}
    return [t.task_key for t in tasks if t.task_key not in has_down]


def _jsonable(info: dict[str, Any] | None) -> dict[str, Any] | None:
    return json.loads(json.dumps(info, default=str)) if info else None


def _quiet(hook: Any, **kwargs: Any) -> None:
    try:
        hook(**kwargs)
    except Exception:
        log.exception("run hook failed")


def run_job(target: str | Path | LoadedJob | Job, *, workspace: Workspace | None = None,
            params: dict[str, str] | None = None, only: list[str] | None = None,
            job_key: str | None = None, stop_spark: bool = True) -> dict[str, Any]:
    """Run a job to completion in this process and return the final ``Run`` shape."""
    engine = Engine.open(workspace)
    try:
        return engine.submit(target, params=params, only=only, job_key=job_key)
    finally:
        if stop_spark:
            engine.stop_spark()
