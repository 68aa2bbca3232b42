"""Running and repairing jobs: the entry points the CLI, the server and tests use.

A run is first prepared (:meth:`Engine.prepare`, :mod:`lakeloom.engine.prepare`: resolve,
validate, parameters, ``only``, record), then executed (:meth:`Engine.execute`). The run
executor of ``lakeloom serve`` prepares runs itself and hands them to ``execute`` too;
repairs are prepared in :mod:`lakeloom.engine.repair`.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lakeloom.catalog.identity import run_principal
from lakeloom.engine import states as st
from lakeloom.engine.child_access import authorize_child_run, stored_job
from lakeloom.engine.clusters import ClusterRouter
from lakeloom.engine.coordinator import Coordinator
from lakeloom.engine.observers import call_each
from lakeloom.engine.prepare import PreparedRun, RunTrigger, plan_run, record_run
from lakeloom.engine.registry import resolve_job
from lakeloom.engine.repair import prepare_repair
from lakeloom.engine.services import EngineServices
from lakeloom.engine.session import RunSession
from lakeloom.plugin_api import TaskContext
from lakeloom.spec.loader import LoadedJob
from lakeloom.spec.models import Job, Task
from lakeloom.store.run_shape import run_shape
from lakeloom.store.store import RunStore, now_ms, open_store

__all__ = ["Engine", "PreparedRun", "RunTrigger", "SparkProvider", "run_job"]

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
    _provider_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

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

    def _provider(self) -> Any:
        # Tasks of concurrent runs (serve, the daemon) ask at once: one provider, so one owner
        # that stops the session it created.
        if self.spark_provider is None:
            with self._provider_lock:
                if self.spark_provider is None:
                    from lakeloom.plugin_manager import plugin_spark_conf
                    from lakeloom.runtime.spark import SparkSessionProvider

                    self.spark_provider = SparkSessionProvider(
                        self.workspace, plugin_conf=plugin_spark_conf(self.workspace, self.pm))
        return self.spark_provider

    def spark(self) -> Any:
        return self._provider().get()

    def spark_defaults(self) -> dict[str, str]:
        """The settings the process's session is (or would be) created with; starts no JVM."""
        return dict(self._provider().conf())

    def spark_started(self) -> bool:
        return self.spark_provider is not None and self.spark_provider.started

    def stop_spark(self) -> None:
        if self.spark_provider is not None:
            self.spark_provider.stop()
            self.spark_provider = None

    # --- runs ------------------------------------------------------------------------

    def prepare(self, target: str | Path | LoadedJob | Job, *, params: dict[str, str] | None = None,
                only: list[str] | None = None, job_key: str | None = None, base_dir: Path | None = None,
                trigger: RunTrigger = RunTrigger(), parent: TaskContext | None = None,
                parent_principal: str | None = None, timeout_seconds: int | None = None,
                pushed_down: dict[str, str] | None = None) -> PreparedRun:
        """Resolve, validate and record a run of ``target``; execute it with :meth:`execute`.

        ``target`` is a job file, a job name, a job id or a model. ``parent`` makes it a
        child run of that task (``run_job_task``, notebook workflows); ``timeout_seconds``
        replaces the job's own timeout; ``pushed_down`` (a parent's job parameters) sets the
        job's parameters of those names, over ``params``. Raises JobSpecError before anything
        is recorded.

        A child run of a stored job belongs to that job. When the parent runs as
        ``parent_principal``, that principal needs CAN_MANAGE_RUN on the child job
        (PermissionError otherwise, before anything is recorded); the child runs as the
        child job's ``run_as``, else its owner, else the parent's principal.
        """
        loaded = resolve_job(target, self.workspace, self.pm, job_key=job_key, store=self.store, base_dir=base_dir)
        plan = plan_run(loaded, self.pm, params=params, only=only, workspace=self.workspace, pushed_down=pushed_down)
        by_reference = not isinstance(target, (Job, LoadedJob))
        stored = stored_job(self.store, target, loaded) if parent is not None and by_reference else None
        if parent_principal and by_reference:
            run_as = trigger.run_as or authorize_child_run(self.store, self.workspace, parent_principal, target,
                                                           loaded)
            trigger = replace(trigger, run_as=run_as)
        if parent_principal:
            trigger = replace(trigger, creator=trigger.creator or parent_principal)
        job_id = stored.job_id if stored else self.store.upsert_job(loaded.job.name, plan.settings,
                                                                    str(loaded.source), loaded.key)
        return record_run(self.store, plan, job_id=job_id, trigger=trigger, parent=parent,
                          timeout_seconds=timeout_seconds)

    def submit(self, target: str | Path | LoadedJob | Job, *, params: dict[str, str] | None = None,
               only: list[str] | None = None, job_key: str | None = None) -> dict[str, Any]:
        """Prepare and execute one run in this thread; return the final ``Run`` shape."""
        return self.execute(self.prepare(target, params=params, only=only, job_key=job_key))

    def execute(self, prepared: PreparedRun, *, cancel_event: threading.Event | None = None,
                spark_provider: SparkProvider | None = None) -> dict[str, Any]:
        """Run a prepared (RUNNING) run to its end in this thread; return the final ``Run`` shape.

        ``cancel_event`` cancels the run when set (a parent task's cancellation);
        ``spark_provider`` (``get()`` and ``started``) gives this run its own Spark
        session, e.g. a ``newSession()`` of a warm one.
        """
        from lakeloom.runtime import logcapture

        logcapture.install()
        self._install_runtime_shims()
        session = self._session(prepared, spark_provider)
        if ClusterRouter.needed(prepared.tasks):
            session.router = ClusterRouter(session, prepared.tasks, self.spark_defaults)
        run_id = prepared.run_id
        repair_id = prepared.repair.repair_id if prepared.repair else None
        before = run_shape(self.store, run_id, include_tasks=False) or {}
        call_each(self.pm.hook.lakeloom_before_run, log, run=before, job=session.job, handle=session.handle)
        coord = Coordinator(session, prepared.tasks, initial=prepared.repair.initial if prepared.repair else None,
                            max_parallel=self.workspace.max_parallel_tasks, timeout_seconds=prepared.timeout_seconds,
                            parent_cancel=cancel_event)
        self.active[run_id] = coord
        try:
            coord.run()
        except BaseException as e:  # record the crash before re-raising (KeyboardInterrupt included)
            self._finish(run_id, st.FAILED, f"the run coordinator failed: {type(e).__name__}: {e}", repair_id)
            # plugins that saw the run start must see it end, or their per-run state outlives it
            call_each(self.pm.hook.lakeloom_after_run, log, run=run_shape(self.store, run_id) or {},
                      job=session.job, handle=session.handle)
            raise
        finally:
            self.active.pop(run_id, None)
            if session.router is not None:
                session.router.close()
        all_results = {k: ts.result_state or st.CANCELED for k, ts in coord.state.items()}
        leaves = _leaves([ts.task for ts in coord.state.values()])
        result = st.run_result(all_results, leaves, cancelled=coord.cancelled, timed_out=coord.timed_out)
        failed = sorted(k for k, v in all_results.items() if v in st.FAILED_STATES | st.CANCELED_STATES)
        message = "" if result == st.SUCCESS else (
            f"{len(failed)} task(s) did not succeed: {', '.join(failed)}" if failed else result.lower())
        self._finish(run_id, result, message, repair_id)
        final = run_shape(self.store, run_id) or {}
        call_each(self.pm.hook.lakeloom_after_run, log, run=final, job=session.job, handle=session.handle)
        return final

    def _session(self, prepared: PreparedRun, spark_provider: SparkProvider | None) -> RunSession:
        spark, started = (spark_provider.get, lambda: spark_provider.started) if spark_provider else (
            self.spark, self.spark_started)
        repair = prepared.repair
        return RunSession(workspace=self.workspace, pm=self.pm, store=self.store, job=prepared.job,
                          job_id=prepared.job_id, run_id=prepared.run_id, base_dir=prepared.loaded.base_dir,
                          job_parameters=prepared.job_parameters, start_time_ms=prepared.start_time_ms,
                          trigger_type=prepared.trigger.trigger_type, trigger_info=prepared.trigger.trigger_info,
                          spark=spark, spark_started=started, services=EngineServices(self),
                          repair_id=repair.repair_id if repair else None,
                          repair_count=repair.repair_count if repair else 0,
                          task_values=repair.task_values if repair else None,
                          records=repair.records if repair else None,
                          watch_store_cancel=prepared.parent_run_id is None, redactions=prepared.redactions,
                          principal=run_principal(prepared.trigger.run_as, prepared.trigger.creator))

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
        if row is None or row.life_cycle_state not in ("PENDING", "RUNNING", "QUEUED", "WAITING_FOR_RETRY"):
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
               spark_provider: SparkProvider | None = None) -> dict[str, Any]:
        """Re-run tasks inside run ``run_id`` (see :mod:`lakeloom.engine.repair`); return the final ``Run`` shape."""
        prepared = prepare_repair(self.store, self.workspace, self.pm, run_id, rerun_tasks=rerun_tasks,
                                  rerun_all_failed=rerun_all_failed, rerun_dependents=rerun_dependents, params=params)
        return self.execute(prepared, spark_provider=spark_provider)


def _leaves(tasks: list[Task]) -> list[str]:
    keys = {t.task_key for t in tasks}
    has_down = {d.task_key for t in tasks for d in t.depends_on if d.task_key in keys}
    return [t.task_key for t in tasks if t.task_key not in has_down]


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
