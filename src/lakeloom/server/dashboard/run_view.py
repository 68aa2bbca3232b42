"""The run page's content: task states for the DAG, the Gantt timeline, the task table,
the selected task's attempts, error, parameters, task values and outputs, repair history
and child runs. Built from store rows only (no Spark, no engine state), so any serve
process on the store shows the same page."""
from __future__ import annotations

import time
from typing import Any

from lakeloom.server.context import ServerContext
from lakeloom.server.dashboard.access import JobAccess
from lakeloom.server.dashboard.graphs import layout_dag, layout_gantt
from lakeloom.server.dashboard.outputs import (
    log_file,
    ml_view,
    pipeline_view,
    quality_view,
    read_log,
    render_notebook,
    sql_table,
    workspace_file,
)
from lakeloom.server.dashboard.render import display_state, is_active, run_duration
from lakeloom.store.records import RunRecord, TaskRunRecord

_FAILED = ("FAILED", "TIMEDOUT", "INTERNAL_ERROR", "UPSTREAM_FAILED", "CANCELED", "UPSTREAM_CANCELED")


def _task_settings(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {t["task_key"]: t for t in settings.get("tasks", [])}
    for t in settings.get("tasks", []):
        fe = t.get("for_each_task")
        if isinstance(fe, dict) and isinstance(fe.get("task"), dict):
            out.setdefault(fe["task"]["task_key"], fe["task"])
    return out


def _attempt_view(attempt: TaskRunRecord, now: int) -> dict[str, Any]:
    a = attempt.as_dict()
    st = display_state(a["life_cycle_state"], a["result_state"])
    return {**a, "state": st, "duration": run_duration(a, now), "active": is_active(a)}


def _select(tops: dict[str, list[dict[str, Any]]], attempts: list[dict[str, Any]], task: str | None,
            attempt: int | None, repaired: bool = False) -> tuple[str | None, dict[str, Any] | None]:
    if attempt is not None:
        hit = next((a for a in attempts if a["task_run_id"] == attempt), None)
        if hit is not None:
            return hit["task_key"], hit
    if task and task in tops and tops[task]:
        return task, tops[task][-1]
    if task:
        return task, None
    for key, rows in tops.items():
        if rows and rows[-1]["state"] in _FAILED:
            return key, rows[-1]
    for key, rows in tops.items():
        if rows and rows[-1]["active"]:
            return key, rows[-1]
    if repaired:
        # A repaired run that has finished: show what the last repair ran, not an empty
        # panel (the repair may finish before the page that started it loads).
        newest = max((rows[-1] for rows in tops.values() if rows), key=lambda a: a["task_run_id"], default=None)
        if newest is not None:
            return newest["task_key"], newest
    return None, None


def build_run_view(ctx: ServerContext, record: RunRecord, access: JobAccess, *, task: str | None = None,
                   attempt: int | None = None, query: str | None = None) -> dict[str, Any]:
    """Everything the run page and its live fragment render."""
    store = ctx.store
    now = int(time.time() * 1000)
    run = record.as_dict()
    run_id = record.run_id
    settings = record.settings
    tsettings = _task_settings(settings)
    attempts = [_attempt_view(a, now) for a in store.task_runs(run_id)]
    tops: dict[str, list[dict[str, Any]]] = {t["task_key"]: [] for t in settings.get("tasks", [])}
    for a in attempts:
        if a["iteration"] is None:
            tops.setdefault(a["task_key"], []).append(a)
    states = {k: rows[-1]["state"] for k, rows in tops.items() if rows}
    notes = {}
    for k, rows in tops.items():
        if rows and rows[-1]["condition_outcome"]:
            notes[k] = f"outcome {rows[-1]['condition_outcome']}"
        elif len(rows) > 1:
            notes[k] = f"{len(rows)} attempts"
    only = set(record.only) if record.only else None
    faded = {k for k in tops if only is not None and k not in only}

    def task_href(key: str) -> str:
        return f"/runs/{run_id}?task={key}"

    dag = layout_dag(settings.get("tasks", []), states, task_href, notes=notes, faded=faded)
    repairs = [r.as_dict() for r in store.repairs(run_id)]
    gantt = layout_gantt(attempts, run["start_time"], now, lambda a: f"/runs/{run_id}?attempt={a['task_run_id']}",
                         repairs=repairs, row_href=task_href)
    table = []
    for key, rows in tops.items():
        last = rows[-1] if rows else None
        table.append({"key": key, "kind": tsettings.get(key, {}), "state": last["state"] if last else (
            "EXCLUDED" if key in faded else "NOT_STARTED"), "attempts": len(rows), "last": last,
            "anchors": [a["task_run_id"] for a in rows]})
    sel_key, sel = _select(tops, attempts, task, attempt, repaired=bool(repairs))
    panel = task_panel(ctx, run, tsettings, attempts, tops, sel_key, sel, query) if sel_key else None
    for rep in repairs:
        rep["tasks"] = rep["rerun_tasks"]
        rep["state"] = display_state(rep["life_cycle_state"], rep["result_state"])
    params = record.job_parameters
    failed_keys = [k for k, rows in tops.items() if rows and rows[-1]["state"] in _FAILED]
    return {
        "run": run, "run_id": run_id, "state": display_state(run["life_cycle_state"], run["result_state"]),
        "active": is_active(run), "duration": run_duration(run, now), "access": access, "dag": dag,
        "gantt": gantt, "table": table, "panel": panel, "repairs": repairs, "params": params,
        "children": store.child_runs(run_id),
        "parent": store.get_run(record.parent_run_id) if record.parent_run_id else None,
        "trigger_info": record.trigger_info,
        "can_manage_run": access.can("CAN_MANAGE_RUN"), "failed_keys": failed_keys, "task_keys": list(tops),
        "latest_repair_id": repairs[-1]["repair_id"] if repairs else None, "selected": sel_key,
        "job_exists": store.get_job(record.job_id) is not None,
    }


def task_panel(ctx: ServerContext, run: dict[str, Any], tsettings: dict[str, dict[str, Any]],
               attempts: list[dict[str, Any]], tops: dict[str, list[dict[str, Any]]], key: str,
               sel: dict[str, Any] | None, query: str | None) -> dict[str, Any]:
    """The selected task: its attempts, the selected attempt's details, outputs and log."""
    logs_root = ctx.engine.workspace.logs_dir
    rows = tops.get(key, [])
    if sel is None and rows:
        sel = rows[-1]
    iterations = []
    if sel is not None:
        parent = sel["task_run_id"] if sel["iteration"] is None else sel["parent_task_run_id"]
        iterations = [a for a in attempts if a["iteration"] is not None and a["parent_task_run_id"] == parent]
    view: dict[str, Any] = {"key": key, "settings": tsettings.get(key, {}), "attempts": rows, "sel": sel,
                            "iterations": iterations, "task_values": ctx.store.task_values(run["run_id"]).get(key, {}),
                            "output": {}, "notebook": None, "sql": None, "pipeline": None, "quality": None, "ml": None,
                            "log": None, "params": None, "children": []}
    if sel is None:
        return view
    output = sel["output"]
    view["output"] = output
    view["params"] = sel["params"]
    view["children"] = sel["child_run_ids"]
    log = log_file(sel, logs_root)  # a failed notebook records no output: its copy sits beside the log
    nb_path = output.get("executed_notebook") or (
        str(log.with_suffix(".ipynb")) if log is not None and "notebook_task" in view["settings"] else None)
    if nb_path:
        view["notebook"] = render_notebook(workspace_file(nb_path, logs_root), logs_root)
    view["sql"] = sql_table(output)
    view["pipeline"] = pipeline_view(output)
    view["quality"] = quality_view(output)
    view["ml"] = ml_view(output)
    view["result"] = output.get("result") if "result" in output else (
        (output.get("notebook_output") or {}).get("result"))
    view["log"] = read_log(log, query=query)
    view["log_query"] = query or ""
    return view
