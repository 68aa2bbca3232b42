"""Template rendering for the dashboard: the Jinja2 environment (autoescaping every
template, HTML and SVG alike), display filters and the state vocabulary shared by pages.

Every user-provided string reaches the page through Jinja's autoescape; the only markup
inserted unescaped is what :mod:`lakeloom.server.dashboard.outputs` produced through the
HTML sanitizer (``Markup`` values).
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"

ACTIVE = ("QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY")

#: Display state -> CSS class suffix (colours live in dashboard.css).
_STATE_CLASS = {
    "SUCCESS": "success", "SUCCESS_WITH_FAILURES": "warn", "FAILED": "failed", "TIMEDOUT": "timedout",
    "CANCELED": "canceled", "MAXIMUM_CONCURRENT_RUNS_REACHED": "canceled", "EXCLUDED": "skipped",
    "UPSTREAM_FAILED": "upstream", "UPSTREAM_CANCELED": "upstream", "SKIPPED": "skipped", "DISABLED": "skipped",
    "RUNNING": "running", "TERMINATING": "running", "PENDING": "pending", "QUEUED": "pending",
    "BLOCKED": "pending", "WAITING_FOR_RETRY": "retry", "NOT_STARTED": "pending", "INTERNAL_ERROR": "failed",
}
_LABEL = {
    "SUCCESS": "Succeeded", "SUCCESS_WITH_FAILURES": "Succeeded with failures", "FAILED": "Failed",
    "TIMEDOUT": "Timed out", "CANCELED": "Canceled", "EXCLUDED": "Excluded", "UPSTREAM_FAILED": "Upstream failed",
    "UPSTREAM_CANCELED": "Upstream canceled", "SKIPPED": "Skipped", "DISABLED": "Disabled", "RUNNING": "Running",
    "TERMINATING": "Terminating", "PENDING": "Pending", "QUEUED": "Queued", "BLOCKED": "Blocked",
    "WAITING_FOR_RETRY": "Waiting for retry", "NOT_STARTED": "Not started", "INTERNAL_ERROR": "Internal error",
    "MAXIMUM_CONCURRENT_RUNS_REACHED": "Skipped (concurrency limit)",
}


def display_state(life_cycle_state: str | None, result_state: str | None) -> str:
    """One word for a run or attempt: the result once terminal, else the life-cycle state."""
    if life_cycle_state in ACTIVE or not result_state:
        return life_cycle_state or "NOT_STARTED"
    return result_state


def is_active(row: dict[str, Any] | None) -> bool:
    return bool(row) and row.get("life_cycle_state") in ACTIVE  # type: ignore[union-attr]


def state_class(state: str | None) -> str:
    return _STATE_CLASS.get(state or "", "pending")


def state_label(state: str | None) -> str:
    return _LABEL.get(state or "", (state or "").replace("_", " ").capitalize())


def fmt_time(ms: int | None) -> str:
    """An epoch-ms time as ``YYYY-MM-DD HH:MM:SS`` UTC (the page's script shows it in local time)."""
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def iso_time(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def fmt_duration(ms: int | float | None) -> str:
    """``450 ms``, ``12.3 s``, ``4m 05s``, ``2h 03m``."""
    if ms is None:
        return "—"
    ms = max(0, int(ms))
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    secs = ms // 1000
    if secs < 3600:
        return f"{secs // 60}m {secs % 60:02d}s"
    return f"{secs // 3600}h {secs % 3600 // 60:02d}m"


def run_duration(row: dict[str, Any], now_ms: int | None = None) -> int | None:
    """Milliseconds from start to end (to now while the run is active)."""
    start = row.get("start_time")
    if not start:
        return None
    end = row.get("end_time") or (now_ms if now_ms is not None else int(time.time() * 1000))
    return max(0, end - start)


def task_kind(settings: dict[str, Any] | None) -> str:
    """``notebook``, ``python``, ``sql``, ... from a task's ``*_task`` block."""
    for key in settings or {}:
        if key.endswith("_task"):
            return key[: -len("_task")]
    return "task"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(time=fmt_time, isotime=iso_time, duration=fmt_duration, state_class=state_class,
                       state_label=state_label)
    env.globals.update(display_state=display_state, state_class=state_class, state_label=state_label,
                       fmt_time=fmt_time, fmt_duration=fmt_duration, task_kind=task_kind)
    return env


ENV = _env()


def read_flash(request: Request) -> dict[str, str] | None:
    """The message left by the previous action (``pages_jobs.flash``); shown once."""
    raw = request.cookies.get("lakeloom_flash")
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
        request.state.flash_read = True
        return {"message": str(data["m"]), "level": "error" if data.get("l") == "error" else "info"}
    except (ValueError, KeyError, TypeError):
        return None


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the signed-in user (``user``) and the request in scope."""
    user = getattr(request.state, "ui_user", None)
    context.setdefault("flash", read_flash(request) if not template.startswith("_") else None)
    html = ENV.get_template(template).render(request=request, user=user, csrf=user.csrf if user else "",
                                             **context)
    return HTMLResponse(html, status_code=status_code)


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
