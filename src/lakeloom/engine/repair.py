"""Preparing a repair: which tasks of a finished run run again, and what the others keep.

A repair reruns tasks inside the same run (``runs/repair``): earlier attempts stay in the
history, the tasks not rerun keep their results, outputs and task values, and the
rerun tasks start with the next attempt numbers. As on Databricks, the job's current
settings are used: its job file as it is now when it still exists, else the run's
snapshot. :func:`prepare_repair` records the repair and returns a
:class:`~lakeloom.engine.prepare.PreparedRun` the engine executes like any run.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom.engine import states as st
from lakeloom.engine.coordinator import TaskState
from lakeloom.engine.prepare import PreparedRun, RepairState, RunPlan, RunTrigger, loaded_job, without_unselected_deps
from lakeloom.engine.registry import resolve_job
from lakeloom.engine.session import TaskRecord
from lakeloom.engine.validate import require_valid
from lakeloom.spec.graph import descendants
from lakeloom.spec.loader import JobSpecError, LoadedJob, SpecError

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_manager import LakeloomPluginManager
    from lakeloom.spec.models import Job
    from lakeloom.store.records import RunRecord, TaskRunRecord
    from lakeloom.store.store import RunStore

#: Run states a repair must wait for (the run is still going).
IN_PROGRESS = ("PENDING", "RUNNING", "QUEUED", "WAITING_FOR_RETRY")


def prepare_repair(store: RunStore, workspace: Workspace, pm: LakeloomPluginManager, run_id: int, *,
                   rerun_tasks: list[str] | None = None, rerun_all_failed: bool = False,
                   rerun_dependents: bool = False, params: dict[str, str] | None = None) -> PreparedRun:
    """Record a repair of finished run ``run_id`` and return it ready to execute.

    Raises JobSpecError for an unknown run or an invalid job, ValueError when the run is
    still in progress or the choice of tasks is empty or unknown. Nothing is recorded then.
    """
    run = store.get_run(run_id)
    if run is None:
        raise JobSpecError([SpecError(f"run {run_id}", None, "no such run")])
    if run.life_cycle_state in IN_PROGRESS:
        raise ValueError(f"run {run_id} is still in progress; cancel it or wait before repairing")
    loaded = _current_job(store, workspace, pm, run)
    job = loaded.job
    require_valid(loaded, pm)
    attempts = [r for r in store.task_runs(run_id) if r.iteration is None]
    latest = {r.task_key: r for r in attempts}
    in_run = (set(run.only) if run.only is not None else {t.task_key for t in job.tasks}) & {
        t.task_key for t in job.tasks}
    chosen = _chosen(job, run_id, latest, in_run, rerun_tasks, rerun_all_failed, rerun_dependents)
    job_params = {**run.job_parameters, **params} if params else run.job_parameters
    repair_id = store.create_repair(run_id, sorted(chosen))
    repair_count = len(store.repairs(run_id))
    store.reopen_for_repair(run_id, repair_count=repair_count, job_parameters=job_params)
    store.add_event(run_id, "repair_started", f"rerunning {', '.join(sorted(chosen))}")
    values = store.task_values(run_id)
    for k in chosen:
        values.pop(k, None)
    store.clear_task_values(run_id, sorted(chosen))
    initial, records = _carried_over(job, attempts, latest, in_run, chosen)
    tasks = [t if run.only is None else without_unselected_deps(t, in_run) for t in job.tasks if t.task_key in in_run]
    plan = RunPlan(loaded, job_params, set(in_run) if run.only is not None else None, run.settings)
    trigger = RunTrigger(run.trigger_type, run.trigger_info, run.run_type, run.run_as, run.creator)
    return PreparedRun(plan=plan, job_id=run.job_id, run_id=run_id, trigger=trigger, start_time_ms=run.start_time,
                       state="RUNNING", timeout_seconds=job.timeout_seconds, tasks=tasks,
                       parent_run_id=run.parent_run_id, parent_task_run_id=run.parent_task_run_id,
                       repair=RepairState(repair_id, repair_count, initial, records, values))


def _current_job(store: RunStore, workspace: Workspace, pm: LakeloomPluginManager, run: RunRecord) -> LoadedJob:
    """Databricks reruns with the current job settings: the job file as it is now, if it still exists."""
    stored = store.get_job(run.job_id)
    if stored is not None and stored.source and Path(stored.source).exists():
        return resolve_job(stored.source, workspace, pm, job_key=stored.job_key)
    return loaded_job(run.job, source=None, job_key=None, base_dir=Path(run.base_dir or "."))


def _chosen(job: Job, run_id: int, latest: dict[str, TaskRunRecord], in_run: set[str],
            rerun_tasks: list[str] | None, rerun_all_failed: bool, rerun_dependents: bool) -> set[str]:
    if rerun_all_failed:
        chosen = {k for k, r in latest.items() if k in in_run and r.result_state in
                  st.FAILED_STATES | st.CANCELED_STATES}
    else:
        if not rerun_tasks:
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
    return chosen


def _carried_over(job: Job, attempts: list[TaskRunRecord], latest: dict[str, TaskRunRecord], in_run: set[str],
                  chosen: set[str]) -> tuple[dict[str, TaskState], dict[str, TaskRecord]]:
    """Each task's next attempt number; the kept results of the tasks not rerun."""
    initial: dict[str, TaskState] = {}
    records: dict[str, TaskRecord] = {}
    next_attempt: dict[str, int] = {}
    for r in attempts:
        next_attempt[r.task_key] = max(next_attempt.get(r.task_key, 0), r.attempt_number + 1)
    for t in job.tasks:
        if t.task_key not in in_run:
            continue
        prev = latest.get(t.task_key)
        ts = TaskState(t, attempt_number=next_attempt.get(t.task_key, 0))
        if t.task_key not in chosen and prev is not None:
            ts.result_state = prev.result_state
            ts.condition_outcome = prev.condition_outcome
            ts.task_run_id = prev.task_run_id
            records[t.task_key] = TaskRecord(prev.result_state, prev.task_run_id, prev.execution_count, None,
                                             prev.output)
        initial[t.task_key] = ts
    return initial, records
