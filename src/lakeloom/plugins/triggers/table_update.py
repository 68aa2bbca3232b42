"""Built-in plugin: ``trigger.table_update: {table_names, condition, min_time_between_triggers_seconds,
wait_after_last_change_seconds}`` on Delta table versions.

Versions are read from each table's ``_delta_log`` folder (the highest commit file),
without a JVM, so watching is cheap. ``ANY_UPDATED`` fires when any table has a commit
newer than at the previous fire; ``ALL_UPDATED`` when every table has. The run sees
``{{job.trigger.table_update.updated_tables}}`` and ``<table>.version`` /
``<table>.commit_timestamp``. Versions at the last fire are persisted, so a restart
does not fire for old commits; commits made while the job is paused never fire.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import Decision, Fire, JobEntry, TriggerEnv, TriggerKind
from lakeloom.spec.models import Job

_COMMIT = re.compile(r"^(\d{20})\.json$")


def table_location(env: TriggerEnv, name: str) -> Path | None:
    """The local folder of a Delta table: a catalog name (``cat.sch.tbl``) or a path."""
    if "/" in name or name.startswith(("dbfs:", "file:")):
        return env.local_path(name)
    from lakeloom.catalog.listing import get_table

    info = get_table(env.workspace, name, env.workspace.default_catalog, env.workspace.default_schema)
    return info.local_path if info is not None else None


def delta_version(location: Path) -> tuple[int, int] | None:
    """(latest version, its commit timestamp ms) from ``_delta_log``, or None if not a Delta table yet."""
    log_dir = location / "_delta_log"
    try:
        names = [n for n in (p.name for p in log_dir.iterdir()) if _COMMIT.match(n)]
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not names:
        return None
    latest = max(names)
    path = log_dir / latest
    ts = int(path.stat().st_mtime * 1000)
    try:
        with path.open() as f:
            for line in f:
                if '"commitInfo"' in line:
                    ts = int(json.loads(line)["commitInfo"].get("timestamp", ts))
                    break
    except (OSError, ValueError):
        pass
    return int(latest[:20]), ts


class TableUpdateKind:
    key = "table_update"

    def settings_of(self, job: Job) -> Any | None:
        return (job.trigger.table_update or job.trigger.table) if job.trigger else None

    def paused(self, job: Job) -> bool:
        return bool(job.trigger and job.trigger.pause_status == "PAUSED")

    def evaluate(self, env: TriggerEnv, entry: JobEntry, state: dict[str, Any] | None, now_ms: int) -> Decision:
        conf = entry.settings
        current: dict[str, list[int]] = {}
        for name in conf.table_names:
            loc = table_location(env, name)
            v = delta_version(loc) if loc is not None else None
            current[name] = list(v) if v else [-1, 0]
        next_check = now_ms + env.poll_ms
        versions = {k: v[0] for k, v in current.items()}
        if state is None:
            return Decision(state={"at_fire": versions, "seen": versions, "last_change": 0, "last_fire": 0},
                            next_check_ms=next_check)
        at_fire: dict[str, int] = state.get("at_fire", {})
        last_change = now_ms if versions != state.get("seen") else int(state.get("last_change", 0))
        new_state = {**state, "seen": versions, "last_change": last_change}
        if entry.paused:
            new_state["at_fire"] = versions
            return Decision(state=new_state, next_check_ms=next_check)
        updated = [k for k in conf.table_names if versions[k] > int(at_fire.get(k, -1))]
        ready = bool(updated) and (len(updated) == len(conf.table_names) or conf.condition == "ANY_UPDATED")
        quiet_until = last_change + conf.wait_after_last_change_seconds * 1000
        spaced_until = int(state.get("last_fire", 0)) + conf.min_time_between_triggers_seconds * 1000
        if not ready or now_ms < quiet_until or now_ms < spaced_until:
            wake = max(quiet_until, spaced_until) if ready else next_check
            return Decision(state=new_state, next_check_ms=min(next_check, max(wake, now_ms + 1)))
        info: dict[str, Any] = {"updated_tables": updated}
        for k in updated:
            info[k] = {"version": current[k][0], "commit_timestamp": current[k][1]}
        new_state.update(at_fire=versions, last_fire=now_ms)
        return Decision(fire=Fire("TABLE", {"time": now_ms, "table_update": info}), state=new_state,
                        next_check_ms=next_check)


@hookimpl
def lakeloom_triggers() -> list[TriggerKind]:
    return [TableUpdateKind()]
