"""Built-in plugin: ``trigger.file_arrival: {url, min_time_between_triggers_seconds,
wait_after_last_change_seconds}``.

Watches ``url`` recursively (a local path, ``file:``, ``dbfs:/`` or ``/Volumes/...``,
mapped to the workspace's roots) by polling every ``server.trigger_poll_seconds``.
Only new files count: files present when the job is first seen, and files seen while
it is paused, never fire. A fire waits until no file was added or changed for
``wait_after_last_change_seconds`` and at least ``min_time_between_triggers_seconds``
after the previous fire. The run sees ``{{job.trigger.file_arrival.location}}`` (the
URL) and the new files under ``trigger_info.file_arrival.new_files``. The set of seen
files is persisted, so a restart does not fire for old files.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import Decision, Fire, JobEntry, TriggerEnv, TriggerKind
from lakeloom.spec.models import Job

MAX_LISTED = 100


def scan(root: Path) -> dict[str, list[int]]:
    """Every file under ``root`` (relative path -> [size, mtime_ns]); hidden and temp files skipped."""
    out: dict[str, list[int]] = {}
    if not root.exists():
        return out
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for e in entries:
            if e.name.startswith((".", "_")):
                continue
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif e.is_file():
                st = e.stat()
                out[os.path.relpath(e.path, root)] = [st.st_size, st.st_mtime_ns]
    return out


class FileArrivalKind:
    key = "file_arrival"

    def settings_of(self, job: Job) -> Any | None:
        return job.trigger.file_arrival if job.trigger else None

    def paused(self, job: Job) -> bool:
        return bool(job.trigger and job.trigger.pause_status == "PAUSED")

    def evaluate(self, env: TriggerEnv, entry: JobEntry, state: dict[str, Any] | None, now_ms: int) -> Decision:
        conf = entry.settings
        current = scan(env.local_path(conf.url))
        next_check = now_ms + env.poll_ms
        if state is None:
            return Decision(state={"files": current, "pending": [], "last_change": 0, "last_fire": 0},
                            next_check_ms=next_check)
        seen: dict[str, list[int]] = state.get("files", {})
        pending: list[str] = list(state.get("pending", []))
        new = sorted(k for k in current if k not in seen)
        changed = [k for k in pending if k in current and current[k] != seen.get(k)]
        last_change = int(state.get("last_change", 0))
        if new or changed:
            last_change = now_ms
        pending = pending + [k for k in new if k not in pending]
        new_state = {**state, "files": current, "pending": pending, "last_change": last_change}
        if entry.paused:
            new_state["pending"] = []
            return Decision(state=new_state, next_check_ms=next_check)
        quiet_until = last_change + conf.wait_after_last_change_seconds * 1000
        spaced_until = int(state.get("last_fire", 0)) + conf.min_time_between_triggers_seconds * 1000
        if not pending or now_ms < quiet_until or now_ms < spaced_until:
            wake = max(quiet_until, spaced_until) if pending else next_check
            return Decision(state=new_state, next_check_ms=min(next_check, max(wake, now_ms + 1)))
        info = {"time": now_ms, "file_arrival": {"location": conf.url, "new_files": pending[:MAX_LISTED],
                                                 "new_file_count": len(pending)}}
        new_state.update(pending=[], last_fire=now_ms)
        return Decision(fire=Fire("FILE_ARRIVAL", info), state=new_state, next_check_ms=next_check)


@hookimpl
def lakeloom_triggers() -> list[TriggerKind]:
    return [FileArrivalKind()]
