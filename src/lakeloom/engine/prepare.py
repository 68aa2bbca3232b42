"""Preparing a run: resolve the job, validate it, merge parameters, apply ``only``, record it.

Every way a run starts (``lakeloom run``, ``runs/submit`` and ``run-now`` through the run
executor, the scheduler, ``run_job_task`` child runs) goes through :func:`plan_run` and
:func:`record_run` and hands the resulting :class:`PreparedRun` to the engine, which
executes it without reading back what was just recorded. Repairs are prepared in
:mod:`lakeloom.engine.repair`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.engine.validate import require_valid
from lakeloom.plugin_api.context import redact_value
from lakeloom.spec.graph import select_only
from lakeloom.spec.loader import JobSpecError, LineMap, LoadedJob, SpecError
from lakeloom.store.records import as_recorded
from lakeloom.store.store import now_ms

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.engine.coordinator import TaskState
    from lakeloom.engine.session import TaskRecord
    from lakeloom.plugin_manager import LakeloomPluginManager
    from lakeloom.runtime.context import TaskContext
    from lakeloom.spec.models import Job, Task
    from lakeloom.store.records import StoredJob
    from lakeloom.store.store import RunStore

log = logging.getLogger("lakeloom.engine")


@dataclass(frozen=True)
class RunTrigger:
    """How a run was asked for; recorded with the run (``Run.trigger``, ``run_type``, ``run_as``)."""

    trigger_type: str = "ONE_TIME"
    trigger_info: dict[str, Any] | None = None
    run_type: str = "JOB_RUN"
    run_as: str | None = None
    #: Who asked for the run (``creator_user_name``), when not the ``run_as`` principal.
    creator: str | None = None


@dataclass(frozen=True)
class RunPlan:
    """A resolved job with its run's parameters and task selection, not yet recorded.

    ``problem`` holds the error of a plan made with ``defer_problems`` (runs started by the
    run executor are recorded first and fail with this error when they start).
    """

    loaded: LoadedJob
    job_parameters: dict[str, str]
    selected: set[str] | None
    settings: dict[str, Any]
    problem: Exception | None = None

    @property
    def job(self) -> Job:
        return self.loaded.job


@dataclass
class RepairState:
    """What a repair carries into execution: earlier results of the tasks it does not rerun."""

    repair_id: int
    repair_count: int
    initial: dict[str, TaskState]
    records: dict[str, TaskRecord]
    task_values: dict[str, dict[str, Any]]


@dataclass
class PreparedRun:
    """A recorded run, ready to execute: everything execution needs, nothing re-read.

    ``state`` is the life cycle state the run was recorded with: ``RUNNING`` for runs that
    execute at once, ``PENDING`` for runs the executor starts on a worker, ``QUEUED`` or
    ``SKIPPED`` (with ``state_message``) for runs over the job's concurrency limit.
    ``tasks`` are the tasks this execution runs (``only`` applied; dependencies on
    unselected tasks dropped). ``repair`` is set when this execution repairs the run.
    """

    plan: RunPlan
    job_id: int
    run_id: int
    trigger: RunTrigger
    start_time_ms: int
    state: str
    timeout_seconds: int
    tasks: list[Task]
    parent_run_id: int | None = None
    parent_task_run_id: int | None = None
    state_message: str = ""
    repair: RepairState | None = field(default=None, repr=False)
    #: Secret values read by the run's tasks (a child run shares its parent's set).
    redactions: set[str] | None = field(default=None, repr=False)

    @property
    def loaded(self) -> LoadedJob:
        return self.plan.loaded

    @property
    def job(self) -> Job:
        return self.plan.loaded.job

    @property
    def job_parameters(self) -> dict[str, str]:
        return self.plan.job_parameters

    def started(self, store: RunStore) -> PreparedRun:
        """Record that a PENDING run (recorded by the executor, or taken from the queue) starts now."""
        start = now_ms()
        store.mark_run_started(self.run_id, settings=self.plan.settings, base_dir=str(self.loaded.base_dir),
                               start_time=start)
        return replace(self, state="RUNNING", start_time_ms=start, state_message="")


#: The file name of a stored job without a job file (created through the API).
STORED_PLACEHOLDER = "<stored>"


def loaded_job(job: Job, *, source: str | None, job_key: str | None, base_dir: Path) -> LoadedJob:
    """A job read from the store as a LoadedJob: from its job file ``source`` when it has one,
    else from a placeholder ``<stored>`` in ``base_dir`` (where its relative paths resolve).

    The one way a stored job (or a run's settings snapshot) becomes a LoadedJob.
    """
    path = Path(source) if source else base_dir / STORED_PLACEHOLDER
    return LoadedJob(job, path, job_key, LineMap())


def stored_loaded_job(stored: StoredJob, workspace_root: Path) -> LoadedJob:
    """A stored job as a LoadedJob; jobs without a file (created through the API) live in the workspace."""
    return loaded_job(stored.job, source=stored.source, job_key=stored.job_key, base_dir=workspace_root)


def merged_parameters(job: Job, overrides: dict[str, str], loaded: LoadedJob | None = None,
                      pushed_down: dict[str, str] | None = None) -> dict[str, str]:
    """Job parameter defaults overridden by run-time values; unknown names are an error.

    ``pushed_down`` are a parent run's job parameters (a ``run_job_task``): as for every
    key-value task on Databricks they win over the task's own values of the same name; those
    the job does not declare are left out.
    """
    declared = job.parameter_defaults
    unknown = [k for k in overrides if k not in declared]
    if unknown:
        src = str(loaded.source) if loaded else job.name
        raise JobSpecError([SpecError(src, None, f"unknown job parameter(s) {', '.join(unknown)}; "
                                      f"declared: {', '.join(declared) or 'none'}", field="parameters")])
    inherited = {k: str(v) for k, v in (pushed_down or {}).items() if k in declared}
    return {**declared, **{k: str(v) for k, v in overrides.items()}, **inherited}


def plan_run(loaded: LoadedJob, pm: LakeloomPluginManager, *, params: dict[str, str] | None = None,
             only: list[str] | None = None, defer_problems: bool = False,
             workspace: Workspace | None = None, pushed_down: dict[str, str] | None = None) -> RunPlan:
    """Validate ``loaded`` (its compute against ``workspace``'s config when given) and resolve
    its parameters and ``only`` selection.

    Raises JobSpecError for an invalid job (unless ``defer_problems``: the error is kept in
    the plan) and for unknown parameters, ValueError for unknown ``only`` task keys.
    """
    problem = None
    try:
        for warning in require_valid(loaded, pm, workspace):
            log.warning(warning.format())
    except JobSpecError as e:
        if not defer_problems:
            raise
        problem = e
    job = loaded.job
    job_params = merged_parameters(job, params or {}, loaded, pushed_down)
    selected = select_only(job, only) if only else None
    settings = job.model_dump(mode="json", exclude_none=True, by_alias=True)
    return RunPlan(loaded, job_params, selected, settings, problem)


def record_run(store: RunStore, plan: RunPlan, *, job_id: int, trigger: RunTrigger = RunTrigger(),
               state: str = "RUNNING", parent: TaskContext | None = None,
               timeout_seconds: int | None = None) -> PreparedRun:
    """Record a run of ``plan`` in ``state`` and return it prepared for execution."""
    job = plan.job
    info = as_recorded(trigger.trigger_info)
    trigger = replace(trigger, trigger_info=info,
                      run_as=trigger.run_as or (job.run_as.principal if job.run_as else None))
    start = now_ms()
    redactions = parent.redactions if parent else None
    run_id = store.create_run(
        job_id=job_id, run_name=job.name, settings=plan.settings,
        job_parameters=redact_value(plan.job_parameters, redactions) if redactions else plan.job_parameters,
        trigger_type=trigger.trigger_type, trigger_info=info, run_type=trigger.run_type,
        parent_run_id=parent.run_id if parent else None,
        parent_task_run_id=parent.task_run_id if parent else None,
        only=sorted(plan.selected) if plan.selected else None, base_dir=str(plan.loaded.base_dir),
        run_as=trigger.run_as, creator=trigger.creator, life_cycle_state=state, start_time=start)
    return PreparedRun(plan=plan, job_id=job_id, run_id=run_id, trigger=trigger, start_time_ms=start, state=state,
                       timeout_seconds=job.timeout_seconds if timeout_seconds is None else timeout_seconds,
                       tasks=selected_tasks(job, plan.selected),
                       parent_run_id=parent.run_id if parent else None,
                       parent_task_run_id=parent.task_run_id if parent else None, redactions=redactions)


def selected_tasks(job: Job, selected: set[str] | None) -> list[Task]:
    """The tasks of ``job`` in ``selected`` (all when None), without dependencies on the others."""
    if selected is None:
        return list(job.tasks)
    return [without_unselected_deps(t, selected) for t in job.tasks if t.task_key in selected]


def without_unselected_deps(task: Task, selected: set[str]) -> Task:
    deps = [d for d in task.depends_on if d.task_key in selected]
    return task if len(deps) == len(task.depends_on) else task.model_copy(update={"depends_on": deps})
