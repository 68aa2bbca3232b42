"""Stored snapshots: one immutable JSON file per refresh, under
``.lakeloom/dashboards/<key>/snapshots/``; the newest file name sorts last."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.plugins.dashboards.discovery import dashboards_dir, write_json_atomic

if TYPE_CHECKING:
    from lakeloom.config import Workspace


def snapshot_dir(workspace: Workspace, key: str) -> Path:
    return dashboards_dir(workspace) / key / "snapshots"


def save(workspace: Workspace, snapshot: dict[str, Any]) -> Path:
    """Store ``snapshot`` under a new name (never overwrites an earlier one)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    run = snapshot.get("run_id")
    name = f"{stamp}-{'run' + str(run) if run is not None else 'manual'}-{uuid.uuid4().hex[:6]}.json"
    path = snapshot_dir(workspace, str(snapshot["dashboard"])) / name
    write_json_atomic(path, snapshot)
    path.chmod(0o444)
    return path


def history(workspace: Workspace, key: str) -> list[Path]:
    """Snapshot files of ``key``, oldest first."""
    folder = snapshot_dir(workspace, key)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def latest(workspace: Workspace, key: str) -> dict[str, Any] | None:
    files = history(workspace, key)
    return json.loads(files[-1].read_text(encoding="utf-8")) if files else None
