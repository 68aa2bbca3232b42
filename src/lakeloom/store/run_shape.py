"""Runs in the shape of the Jobs API 2.2 ``Run`` object, built from store records."""
from __future__ import annotations

from typing import Any

from lakeloom.store.records import RepairRecord, RunRecord, TaskRunRecord
from lakeloom.store.store import RunStore

_TERMINAL_LIFECYCLES = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
_STATUS_OF_LIFECYCLE = {
    "QUEUED": "QUEUED", "PENDING": "PENDING", "RUNNING": "RUNNING", "TERMINATING": "TERMINATING",
    "TERMINATED": "TERMINATED", "SKIPPED": "TERMINATED", "INTERNAL_ERROR": "TERMINATED",
    "BLOCKED": "BLOCKED", "WAITING_FOR_RETRY": "WAITING",
}
_TYPE_OF_CODE = {
    "SUCCESS": "SUCCESS", "SUCCESS_WITH_FAILURES": "SUCCESS", "USER_CANCELED": "SUCCESS", "CANCELED": "SUCCESS",
    "SKIPPED": "SUCCESS", "DISABLED": "SUCCESS", "DRIVER_ERROR": "INTERNAL_ERROR", "INTERNAL_ERROR": "INTERNAL_ERROR",
}


def _state(life: str, result: str | None, message: str) -> dict[str, Any]:
    state: dict[str, Any] = {"life_cycle_state": life, "state_message": message or ""}
    if result:
        state["result_state"] = result
        state["user_cancelled_or_timedout"] = result in ("CANCELED", "TIMEDOUT")
    return state


def _status(life: str, result: str | None, code: str | None, type_: str | None, message: str) -> dict[str, Any]:
    status: dict[str, Any] = {"state": _STATUS_OF_LIFECYCLE.get(life, life)}
    if life in _TERMINAL_LIFECYCLES and (code or result):
        code = code or ("SUCCESS" if result == "SUCCESS" else "RUN_EXECUTION_ERROR")
        status["termination_details"] = {
            "code": code, "type": type_ or _TYPE_OF_CODE.get(code, "CLIENT_ERROR"), "message": message or ""}
    return status


def _duration(start: int | None, end: int | None) -> int:
    return max(0, (end or 0) - (start or 0)) if end else 0


def task_shape(row: TaskRunRecord, settings: dict[str, Any] | None, run_page_url: str | None = None) -> dict[str, Any]:
    """One task attempt as an entry of ``Run.tasks``."""
    life, result = row.life_cycle_state, row.result_state
    entry: dict[str, Any] = {
        "task_key": row.task_key,
        "run_id": row.task_run_id,
        "attempt_number": row.attempt_number,
        "state": _state(life, result, row.state_message),
        "status": _status(life, result, row.termination_code, None, row.state_message),
        "start_time": row.start_time,
        "end_time": row.end_time or 0,
        "setup_duration": 0,
        "execution_duration": _duration(row.start_time, row.end_time),
        "cleanup_duration": 0,
    }
    if row.iteration is not None:
        entry["iteration"] = row.iteration
        entry["parent_run_id"] = row.parent_task_run_id
    if settings:
        for k in ("description", "depends_on", "run_if", "timeout_seconds", "max_retries",
                  "min_retry_interval_millis", "retry_on_timeout", "disabled", "job_cluster_key",
                  "existing_cluster_id", "new_cluster"):
            if k in settings:
                entry.setdefault(k, settings[k])
        for k, v in settings.items():
            if k.endswith("_task"):
                entry[k] = dict(v) if isinstance(v, dict) else v
    if row.condition_outcome and isinstance(entry.get("condition_task"), dict):
        entry["condition_task"]["outcome"] = row.condition_outcome
    if row.child_run_ids:
        children = list(row.child_run_ids)
        if "run_job_task" in entry:
            entry["run_job_output"] = {"run_id": children[-1]}
        entry["child_run_ids"] = children
    if row.params:
        entry["resolved_values"] = {"parameters": row.params}
    if run_page_url:
        entry["run_page_url"] = f"{run_page_url}#task-{row.task_run_id}"
    return entry


def run_shape(store: RunStore, run_id: int, *, include_tasks: bool = True,
              base_url: str | None = None) -> dict[str, Any] | None:
    """The run as a Jobs API ``Run`` object, or None when it does not exist."""
    row = store.get_run(run_id)
    if row is None:
        return None
    settings = row.settings
    defaults = {p["name"]: p.get("default") for p in settings.get("parameters", [])}
    url = f"{base_url.rstrip('/')}/runs/{run_id}" if base_url else None
    run: dict[str, Any] = {
        "job_id": row.job_id,
        "run_id": run_id,
        "number_in_job": run_id,
        "original_attempt_run_id": run_id,
        "run_name": row.run_name,
        "run_type": row.run_type,
        "trigger": row.trigger_type,
        "state": _state(row.life_cycle_state, row.result_state, row.state_message),
        "status": _status(row.life_cycle_state, row.result_state, row.termination_code,
                          row.termination_type, row.state_message),
        "start_time": row.start_time,
        "end_time": row.end_time or 0,
        "setup_duration": 0,
        "execution_duration": _duration(row.start_time, row.end_time),
        "cleanup_duration": 0,
        "run_duration": _duration(row.start_time, row.end_time),
        "job_parameters": [{"name": k, "default": defaults.get(k), "value": v}
                           for k, v in row.job_parameters.items()],
        "creator_user_name": row.creator or row.run_as or "",
        "run_as_user_name": row.run_as or "",
    }
    if settings.get("job_clusters"):
        run["job_clusters"] = settings["job_clusters"]
    if row.trigger_info:
        run["trigger_info"] = row.trigger_info
    if row.parent_run_id:
        run["parent_run_id"] = row.parent_run_id
    if row.only:
        run["only"] = row.only
    if url:
        run["run_page_url"] = url
    repairs = store.repairs(run_id)
    if repairs or include_tasks:
        run["repair_history"] = _repair_history(row, repairs, store.task_runs(run_id) if include_tasks else [])
    if repairs:
        run["latest_repair_id"] = repairs[-1].repair_id
    if include_tasks:
        task_settings = {t["task_key"]: t for t in settings.get("tasks", [])}
        rows = store.task_runs(run_id)
        nested = {}
        for t in settings.get("tasks", []):
            fe = t.get("for_each_task")
            if isinstance(fe, dict) and isinstance(fe.get("task"), dict):
                nested[fe["task"].get("task_key")] = fe["task"]
        run["tasks"] = [task_shape(r, task_settings.get(r.task_key) or nested.get(r.task_key), url)
                        for r in rows]
    return run


def _repair_history(row: RunRecord, repairs: list[RepairRecord],
                    task_rows: list[TaskRunRecord]) -> list[dict[str, Any]]:
    first_end = repairs[0].start_time if repairs else row.end_time
    life, result = _original_outcome(row, repairs, task_rows)
    history = [{
        "type": "ORIGINAL", "id": row.run_id, "start_time": row.start_time, "end_time": first_end or 0,
        "state": _state(life, result, ""),
        "status": _status(life, result, None, None, ""),
        "task_run_ids": [t.task_run_id for t in task_rows if t.repair_id is None and t.iteration is None],
    }]
    for rep in repairs:
        history.append({
            "type": "REPAIR", "id": rep.repair_id, "start_time": rep.start_time, "end_time": rep.end_time or 0,
            "state": _state(rep.life_cycle_state, rep.result_state, ""),
            "status": _status(rep.life_cycle_state, rep.result_state, None, None, ""),
            "task_run_ids": [t.task_run_id for t in task_rows if t.repair_id == rep.repair_id
                             and t.iteration is None],
            "rerun_tasks": list(rep.rerun_tasks),
        })
    return history


_FAILED_TASK_RESULTS = frozenset({"FAILED", "TIMEDOUT", "INTERNAL_ERROR", "UPSTREAM_FAILED", "MAXIMUM_CONCURRENT_RUNS_REACHED"})


def _original_outcome(row: RunRecord, repairs: list[RepairRecord],
                      task_rows: list[TaskRunRecord]) -> tuple[str, str | None]:
    """Life cycle and result of the run before its first repair (the run's own when unrepaired)."""
    if not repairs:
        return row.life_cycle_state, row.result_state
    latest: dict[str, str | None] = {}
    for t in task_rows:  # in attempt order: the last original attempt of each task wins
        if t.repair_id is None and t.iteration is None:
            latest[t.task_key] = t.result_state
    results = set(latest.values())
    if results & _FAILED_TASK_RESULTS:
        return "TERMINATED", "FAILED"
    if results & {"CANCELED", "UPSTREAM_CANCELED"}:
        return "TERMINATED", "CANCELED"
    return "TERMINATED", "SUCCESS"


def task_output(store: RunStore, task_run_id: int) -> dict[str, Any] | None:
    """``runs/get-output`` for one task run."""
    row = store.get_task_run(task_run_id)
    if row is None:
        return None
    run = store.get_run(row.run_id)
    settings = run.settings if run else {}
    task_settings = next((t for t in settings.get("tasks", []) if t.get("task_key") == row.task_key), None)
    out: dict[str, Any] = {"metadata": task_shape(row, task_settings)}
    if row.output:
        out.update(row.output)
    if row.result_state not in (None, "SUCCESS"):
        out["error"] = row.state_message
        if row.error_trace:
            out["error_trace"] = row.error_trace
    if row.log_path:
        out["log_path"] = row.log_path
    return out
