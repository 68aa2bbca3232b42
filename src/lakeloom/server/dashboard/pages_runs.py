"""The Runs page (``/runs``) and the Run page (``/runs/{id}``, the target of
``run_page_url``), the live fragment and log endpoints, and the Cancel and Repair actions."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from lakeloom.server.dashboard.access import ctx_of, job_access, run_access, viewable_job_ids, visible_jobs
from lakeloom.server.dashboard.outputs import log_chunk, log_file
from lakeloom.server.dashboard.pages_jobs import flash
from lakeloom.server.dashboard.render import display_state, is_active, render, run_duration
from lakeloom.server.dashboard.run_view import build_run_view
from lakeloom.server.dashboard.session import UiUser, checked_form, ui_user
from lakeloom.server.errors import ApiError, invalid
from lakeloom.store.ui import RunFilter

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
STATES = ("ACTIVE", "SUCCESS", "FAILED", "TIMEDOUT", "CANCELED", "SUCCESS_WITH_FAILURES", "UPSTREAM_FAILED",
          "SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", "EXCLUDED")
TRIGGERS = ("ONE_TIME", "PERIODIC", "FILE_ARRIVAL", "TABLE", "CONTINUOUS", "RUN_JOB_TASK", "RETRY")
SINCE = {"1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000, "30d": 2_592_000_000}


def _key(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        start, _, rid = value.partition(":")
        return int(start), int(rid)
    except ValueError:
        raise invalid(f"invalid page position {value!r}") from None


def _day_ms(value: str | None, end: bool = False) -> int | None:
    if not value:
        return None
    try:
        d = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise invalid(f"invalid date {value!r} (want YYYY-MM-DD)") from None
    return int(d.timestamp() * 1000) + (86_400_000 - 1 if end else 0)


def _pos(row: dict[str, Any]) -> str:
    return f"{row['start_time']}:{row['run_id']}"


def _url(base: dict[str, Any], **extra: Any) -> str:
    return "/runs?" + urlencode({**base, **{k: v for k, v in extra.items() if v}})


@router.get("/runs")
def runs_page(request: Request, job_id: int | None = None, state: str | None = None, trigger: str | None = None,
              since: str | None = None, date_from: str | None = None, date_to: str | None = None,
              after: str | None = None, before: str | None = None, fragment: int = 0,
              user: UiUser = Depends(ui_user)) -> Response:
    """Runs newest first, filtered by job, state, trigger type and time; keyset pages."""
    ctx = ctx_of(request)
    who = user.principal
    if job_id is not None:
        job_access(ctx, who, job_id)
        job_ids: tuple[int, ...] | None = (job_id,)
    else:
        ids = viewable_job_ids(ctx, who)
        job_ids = tuple(ids) if ids is not None else None
    start_from = _day_ms(date_from)
    if since in SINCE:
        start_from = max(start_from or 0, int(time.time() * 1000) - SINCE[since])
    f = RunFilter(job_ids=job_ids, state=state if state in STATES else None,
                  trigger_type=trigger if trigger in TRIGGERS else None, start_from=start_from,
                  start_to=_day_ms(date_to, end=True))
    if job_ids == ():
        rows: list[dict[str, Any]] = []
    else:
        rows = ctx.store.runs_filtered(f, limit=PAGE_SIZE + 1, after=_key(after), before=_key(before))
    before_key = _key(before)
    more_older = len(rows) > PAGE_SIZE
    rows = rows[-PAGE_SIZE:] if before_key else rows[:PAGE_SIZE]
    if before_key:  # a "newer" page: older runs exist (we came from there); newer ones if the page was full
        more_newer, more_older = more_older, True
    else:
        more_newer = after is not None
    names = ctx.store.job_names()
    now = int(time.time() * 1000)
    for r in rows:
        r["state"] = display_state(r["life_cycle_state"], r["result_state"])
        r["duration"] = run_duration(r, now)
        r["job_name"] = names.get(r["job_id"], f"job {r['job_id']}")
    base = {k: v for k, v in {"job_id": job_id, "state": f.state, "trigger": f.trigger_type, "since": since,
                              "date_from": date_from, "date_to": date_to}.items() if v}
    older = _url(base, after=_pos(rows[-1])) if rows and more_older else None
    newer = _url(base, before=_pos(rows[0])) if rows and more_newer else None
    fragment_url = _url(base, after=after, before=before, fragment=1)
    live = any(is_active(r) for r in rows)
    ctx_vars = dict(rows=rows, older=older, newer=newer, first=_url(base) if (after or before) else None,
                    live=live, fragment_url=fragment_url)
    if fragment:
        return render(request, "_runs_table.html", **ctx_vars)
    jobs = sorted(visible_jobs(ctx, who), key=lambda a: a.job.name.lower())
    return render(request, "runs.html", jobs=jobs, filters={**base, "job_id": job_id}, states=STATES,
                  triggers=TRIGGERS, since_options=list(SINCE), title="Runs", **ctx_vars)


def _run_context(request: Request, run_id: int, user: UiUser, task: str | None, attempt: int | None,
                 q: str | None) -> dict[str, Any]:
    ctx = ctx_of(request)
    run, access = run_access(ctx, user.principal, run_id)
    view = build_run_view(ctx, run, access, task=task, attempt=attempt, query=q)
    # Keep the task picked at page load, so the live panel and the log viewer below it agree.
    params = {k: v for k, v in {"task": None if attempt else (task or view["selected"]),
                                "attempt": attempt}.items() if v}
    view["live_url"] = f"/runs/{run_id}/live" + (f"?{urlencode(params)}" if params else "")
    stored = ctx.store.get_job(run.job_id)
    view["job_name"] = stored.name if stored else run.run_name
    return view


@router.get("/runs/{run_id}")
def run_page(run_id: int, request: Request, task: str | None = None, attempt: int | None = None,
             q: str | None = None, user: UiUser = Depends(ui_user)) -> Response:
    """A run: live DAG, Gantt timeline, tasks, the selected task's details and log, repair."""
    view = _run_context(request, run_id, user, task, attempt, q)
    return render(request, "run.html", title=f"Run {run_id}", **view)


@router.get("/runs/{run_id}/live")
def run_live(run_id: int, request: Request, task: str | None = None, attempt: int | None = None,
             user: UiUser = Depends(ui_user)) -> Response:
    """The live part of the run page (polled by the page's script while the run is active)."""
    view = _run_context(request, run_id, user, task, attempt, None)
    return render(request, "_run_live.html", **view)


@router.get("/runs/{run_id}/log/{task_run_id}")
def run_log(run_id: int, task_run_id: int, request: Request, offset: int | None = None, download: int = 0,
            user: UiUser = Depends(ui_user)) -> Response:
    """An attempt's log: ``offset`` gives the bytes after it as JSON (live tail);
    ``download`` the whole file as text."""
    ctx = ctx_of(request)
    run_access(ctx, user.principal, run_id)
    record = ctx.store.get_task_run(task_run_id)
    if record is None or record.run_id != run_id:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Task run {task_run_id} of run {run_id} does not exist.")
    row = record.as_dict()
    path = log_file(row, ctx.engine.workspace.logs_dir)
    if download:
        if path is None or not path.is_file():
            return Response("(this attempt wrote no output)\n", media_type="text/plain; charset=utf-8")
        return FileResponse(path, media_type="text/plain; charset=utf-8",
                            filename=f"run-{run_id}-{row['task_key']}-{row['attempt_number']}.log")
    text, new_offset = log_chunk(path, max(0, offset or 0))
    return JSONResponse({"text": text, "offset": new_offset, "active": is_active(row)},
                        headers={"Cache-Control": "no-store"})


@router.post("/runs/{run_id}/cancel")
async def cancel(run_id: int, request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """Cancel the run (CAN_MANAGE_RUN), as ``runs/cancel`` does."""
    from lakeloom.server.api_runs import RunIdRequest
    from lakeloom.server.api_runs import cancel as api_cancel

    await checked_form(request, user)
    back = RedirectResponse(f"/runs/{run_id}", status_code=303)
    try:
        api_cancel(RunIdRequest(run_id=run_id), request, user.principal)
    except ApiError as e:
        return flash(back, e.message, "error")
    return flash(back, f"Cancelling run {run_id}.")


@router.post("/runs/{run_id}/repair")
async def repair(run_id: int, request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """Repair the run: ``mode=failed`` reruns all failed tasks, ``mode=selected`` the
    ``task`` fields; ``dependents`` also reruns their dependents; ``latest_repair_id`` is
    the repair the page showed (a concurrent repair makes this one fail, as in the API)."""
    from lakeloom.server.api_runs import RepairRequest
    from lakeloom.server.api_runs import repair as api_repair

    form = await checked_form(request, user)
    back = RedirectResponse(f"/runs/{run_id}", status_code=303)
    mode = (form.get("mode") or ["failed"])[0]
    tasks = [t for t in form.get("task", []) if t]
    latest = (form.get("latest_repair_id") or [""])[0]
    if mode == "selected" and not tasks:
        return flash(back, "Pick at least one task to repair.", "error")
    try:
        body = RepairRequest(run_id=run_id, rerun_tasks=tasks if mode == "selected" else None,
                             rerun_all_failed_tasks=mode != "selected",
                             rerun_dependent_tasks=bool(form.get("dependents")),
                             latest_repair_id=int(latest) if latest.isdigit() else None)
        out = api_repair(body, request, user.principal)
    except ApiError as e:
        return flash(back, e.message, "error")
    return flash(back, f"Repair {out['repair_id']} started.")
