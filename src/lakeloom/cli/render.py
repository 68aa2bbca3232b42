"""Terminal rendering of runs (rich), shared by the CLI commands."""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Piped output (CI logs, `| less`) gets a wide fixed width instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
_override = threading.local()


def out_console() -> Console:
    """The console for stdout of the command running on this thread."""
    return getattr(_override, "out", None) or console


def error_console() -> Console:
    """The console for stderr (progress, summaries) of the command running on this thread."""
    return getattr(_override, "err", None) or err_console


@contextmanager
def use_consoles(out: Console, err: Console) -> Iterator[None]:
    """Render this thread's output on ``out``/``err``: a warm driver's command renders for its
    client's terminal, not for the daemon's own (which has none)."""
    saved = getattr(_override, "out", None), getattr(_override, "err", None)
    _override.out, _override.err = out, err
    try:
        yield
    finally:
        _override.out, _override.err = saved

STATE_STYLE = {
    "SUCCESS": "green", "SUCCESS_WITH_FAILURES": "yellow", "FAILED": "red", "TIMEDOUT": "red",
    "CANCELED": "magenta", "UPSTREAM_FAILED": "red dim", "UPSTREAM_CANCELED": "magenta dim", "EXCLUDED": "dim",
    "DISABLED": "dim", "RUNNING": "cyan", "PENDING": "blue", "QUEUED": "blue", "WAITING_FOR_RETRY": "yellow",
    "INTERNAL_ERROR": "red",
}


def state_text(state: str | None) -> Text:
    s = state or "PENDING"
    return Text(s, style=STATE_STYLE.get(s, ""))


def fmt_time(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else ""


def fmt_duration(start: int | None, end: int | None) -> str:
    if not start:
        return ""
    ms = (end or int(time.time() * 1000)) - start
    if ms < 1000:
        return f"{ms} ms"
    s = ms / 1000
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def plain(value: Any) -> Any:
    """``value`` as literal text: job names such as ``[dev alice] etl`` are not rich markup."""
    return Text(value) if isinstance(value, str) else value


def table(title: str, columns: list[str], rows: list[list[Any]], target: Console | None = None) -> None:
    t = Table(title=plain(title), title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*(plain(cell) for cell in r))
    (target or out_console()).print(t)


def task_rows(run: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for t in run.get("tasks", []):
        if t.get("iteration") is not None:
            continue
        st = t["state"].get("result_state") or t["state"]["life_cycle_state"]
        msg = t["state"].get("state_message", "")
        if t.get("condition_task", {}).get("outcome"):
            msg = f"outcome={t['condition_task']['outcome']}" + (f"; {msg}" if msg else "")
        rows.append([t["task_key"], str(t["attempt_number"]), state_text(st),
                     fmt_duration(t["start_time"], t["end_time"] or None), msg[:100]])
    return rows


def summary(run: dict[str, Any], target: Console | None = None) -> None:
    out = target or error_console()
    table(f"Run {run['run_id']} · {run['run_name']}", ["task", "attempt", "result", "duration", "message"],
          task_rows(run), out)
    state = run["state"].get("result_state") or run["state"]["life_cycle_state"]
    line = Text(f"run {run['run_id']}: ")
    line.append_text(state_text(state))
    line.append(f" in {fmt_duration(run['start_time'], run['end_time'] or None)}")
    if run["state"].get("state_message"):
        line.append(f" — {run['state']['state_message']}")
    out.print(line)


def show_run(run: dict[str, Any], store: Any) -> None:
    summary(run, out_console())
    for t in run.get("tasks", []):
        row = store.get_task_run(t["run_id"])
        if row and row.error_trace:
            out_console().print(Text(f"\n{t['task_key']} attempt {t['attempt_number']}: {row.state_message}",
                               style="red bold"))
            out_console().print(Text(row.error_trace.rstrip()))
    if hasattr(store, "deliveries"):
        show_deliveries(store.deliveries(run["run_id"]))
    if run.get("repair_history") and len(run["repair_history"]) > 1:
        table("Repair history", ["type", "id", "started", "result", "rerun"], [
            [h["type"], str(h["id"]), fmt_time(h["start_time"]), state_text(h["state"].get("result_state")),
             ", ".join(h.get("rerun_tasks", []))] for h in run["repair_history"]])


def show_deliveries(deliveries: list[dict[str, Any]]) -> None:
    """Notification delivery attempts of a run (``lakeloom runs show``)."""
    if not deliveries:
        return
    style = {"DELIVERED": "green", "RETRYING": "yellow", "FAILED": "red"}
    table("Notifications", ["time", "event", "task", "via", "to", "attempt", "status", "detail"], [
        [fmt_time(d["time"]), d["event_type"], d["task_key"] or "", d["notifier"], d["destination"],
         str(d["attempt"]), Text(d["status"], style=style.get(d["status"], "")),
         (f"HTTP {d['http_status']} " if d["http_status"] else "") + (d["error"] or "")[:80]]
        for d in deliveries])
