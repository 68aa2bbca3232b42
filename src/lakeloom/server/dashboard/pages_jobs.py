"""The Jobs page (``/``) and the Job page (``/jobs/{id}``), with their actions: Run now
(with job parameters) and Pause / Unpause."""
from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from lakeloom.server.auth import owner_of
from lakeloom.server.dashboard.access import JobAccess, ctx_of, job_access, visible_jobs
from lakeloom.server.dashboard.graphs import duration_chart, layout_dag
from lakeloom.server.dashboard.outputs import model_links
from lakeloom.server.dashboard.render import display_state, is_active, render, run_duration
from lakeloom.server.dashboard.schedules import trigger_info
from lakeloom.server.dashboard.session import UiUser, checked_form, safe_next, ui_user
from lakeloom.server.errors import ApiError

router = APIRouter(include_in_schema=False)

FLASH = "lakeloom_flash"


def flash(resp: Response, message: str, level: str = "info") -> Response:
    """Show ``message`` on the next page (a short-lived cookie, read and cleared once)."""
    resp.set_cookie(FLASH, quote(json.dumps({"m": message[:2000], "l": level})), max_age=60, httponly=True,
                    samesite="strict", path="/")
    return resp


def _periodic_state(request: Request, access: JobAccess) -> dict[str, Any] | None:
    if access.job.trigger is None or access.job.trigger.periodic is None:
        return None
    return ctx_of(request).store.trigger_state(access.job_id, "periodic")[1]


def job_summary(request: Request, access: JobAccess, overrides: dict[int, str], *, n_runs: int = 20) -> dict[str, Any]:
    """What the jobs table shows for one job."""
    store = ctx_of(request).store
    now = int(time.time() * 1000)
    recent = store.recent_runs(access.job_id, n_runs)
    for r in recent:
        r["state"] = display_state(r["life_cycle_state"], r["result_state"])
        r["duration"] = run_duration(r, now)
    done = [r["duration"] for r in recent if r["end_time"] and r["duration"] is not None]
    trig = trigger_info(access.job, overrides.get(access.job_id), _periodic_state(request, access))
    return {"access": access, "job": access.job, "job_id": access.job_id, "trigger": trig,
            "recent": list(reversed(recent)), "avg_ms": sum(done) / len(done) if done else None,
            "active": any(is_active(r) for r in recent), "params": access.job.parameters,
            "can_run": access.can("CAN_MANAGE_RUN"), "can_pause": access.can("CAN_MANAGE") and trig.kind != "manual"}


@router.get("/")
def jobs_page(request: Request, q: str | None = None, fragment: int = 0,
              user: UiUser = Depends(ui_user)) -> Response:
    """Every job the user may view: trigger, pause state, next fire, last runs, average duration."""
    ctx = ctx_of(request)
    overrides = ctx.store.pause_overrides()
    jobs = [a for a in visible_jobs(ctx, user.principal) if not q or q.lower() in a.job.name.lower()]
    rows = [job_summary(request, a, overrides) for a in jobs]
    live = any(r["active"] for r in rows)
    template = "_jobs_table.html" if fragment else "jobs.html"
    return render(request, template, rows=rows, q=q or "", live=live, title="Jobs")


@router.get("/jobs/{job_id}")
def job_page(job_id: int, request: Request, fragment: int = 0, user: UiUser = Depends(ui_user)) -> Response:
    """One job: DAG, settings as YAML, run history with durations and success rate,
    notifications and permissions."""
    ctx = ctx_of(request)
    access = job_access(ctx, user.principal, job_id)
    summary = job_summary(request, access, ctx.store.pause_overrides(), n_runs=50)
    history = list(reversed(summary["recent"]))
    finished = [r for r in history if not is_active(r)]
    ok = sum(1 for r in finished if r["state"] == "SUCCESS")
    chart = duration_chart(history, lambda rid: f"/runs/{rid}")
    if fragment:
        return render(request, "_job_history.html", s=summary, history=history, chart=chart,
                      success_rate=(ok / len(finished)) if finished else None, live=summary["active"])
    settings = access.settings
    tasks = settings.get("tasks", [])
    dag = layout_dag(tasks, {}, lambda k: f"#task-{k}", show_state=False)
    notifications = {k: settings[k] for k in ("email_notifications", "webhook_notifications",
                                              "notification_settings", "health") if settings.get(k)}
    task_notifications = {t["task_key"]: {k: t[k] for k in ("email_notifications", "webhook_notifications")
                                          if t.get(k)} for t in tasks
                          if t.get("email_notifications") or t.get("webhook_notifications")}
    return render(request, "job.html", s=summary, job=access.job, access=access, dag=dag, tasks=tasks,
                  settings_yaml=yaml.safe_dump(settings, sort_keys=False, allow_unicode=True),
                  history=history, chart=chart, success_rate=(ok / len(finished)) if finished else None,
                  notifications=notifications, task_notifications=task_notifications,
                  owner=owner_of(access.job, access.creator), level=access.level,
                  live=summary["active"], title=access.job.name, models=model_links(tasks))


@router.post("/jobs/{job_id}/run-now")
async def run_now(job_id: int, request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """Start a run (fields ``param.<name>`` are job parameters) and open it."""
    from lakeloom.server.api_jobs import RunNowRequest, start_run_now

    form = await checked_form(request, user)
    params = {k[len("param."):]: v[0] for k, v in form.items() if k.startswith("param.")}
    back = safe_next((form.get("back") or [f"/jobs/{job_id}"])[0])
    try:
        launch = start_run_now(ctx_of(request), RunNowRequest(job_id=job_id, job_parameters=params or None),
                               user.principal)
    except ApiError as e:
        return flash(RedirectResponse(back, status_code=303), e.message, "error")
    if launch.state == "SKIPPED":
        msg = f"Run {launch.run_id} was skipped: {launch.state_message}"
        return flash(RedirectResponse(f"/runs/{launch.run_id}", status_code=303), msg, "error")
    return RedirectResponse(f"/runs/{launch.run_id}", status_code=303)


@router.post("/jobs/{job_id}/pause")
async def pause(job_id: int, request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """Pause or unpause the job's schedule / trigger (field ``status``: PAUSED or UNPAUSED)."""
    form = await checked_form(request, user)
    back = safe_next((form.get("back") or [f"/jobs/{job_id}"])[0])
    status = (form.get("status") or [""])[0]
    try:
        access = job_access(ctx_of(request), user.principal, job_id, "CAN_MANAGE")
    except ApiError as e:
        return flash(RedirectResponse(back, status_code=303), e.message, "error")
    if status not in ("PAUSED", "UNPAUSED"):
        return flash(RedirectResponse(back, status_code=303), "status must be PAUSED or UNPAUSED", "error")
    ctx_of(request).store.set_pause(access.job_id, status, user.name)
    word = "paused" if status == "PAUSED" else "unpaused"
    return flash(RedirectResponse(back, status_code=303), f"{access.job.name} {word}.")
