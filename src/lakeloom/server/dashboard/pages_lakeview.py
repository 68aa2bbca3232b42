"""The Dashboards section: AI/BI (``.lvdash.json``) dashboards drawn from their latest
stored snapshot (``/dashboards``, ``/dashboards/{key}``).

The dashboards plugin writes snapshots as JSON files under
``.lakeloom/dashboards/<key>/snapshots/``; this module only reads those files (the server
layer never imports a plugin). The page embeds the snapshot as a JSON data block and
``lakeview.js`` lays the pages out on the 6-column grid and draws the widgets with the
vendored Vega-Lite; filter widgets re-query the stored rows in the browser, and parameter
changes go to the live-query route a plugin installs (``app.state.lakeview_live``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from lakeloom.server.dashboard.access import ctx_of
from lakeloom.server.dashboard.render import render
from lakeloom.server.dashboard.session import UiUser, ui_user
from lakeloom.server.errors import ApiError

router = APIRouter(include_in_schema=False)

SUFFIX = ".lvdash.json"
_KEY = re.compile(r"^[A-Za-z0-9_.\- ]+$")


def dashboards_root(state_dir: Path) -> Path:
    return state_dir / "dashboards"


def snapshot_files(state_dir: Path, key: str) -> list[Path]:
    folder = dashboards_root(state_dir) / key / "snapshots"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def known_dashboards(root: Path, state_dir: Path) -> dict[str, dict[str, Any]]:
    """Key → {display_name, snapshots, last}: refreshed ones, bundle-registered ones and
    the workspace's ``dashboards/*.lvdash.json`` (package dashboards appear once refreshed)."""
    found: dict[str, dict[str, Any]] = {}
    folder = root / "dashboards"
    if folder.is_dir():
        for path in folder.rglob(f"*{SUFFIX}"):
            key = path.name[: -len(SUFFIX)]
            found[key] = {"display_name": key}
    try:
        registry = json.loads((dashboards_root(state_dir) / "registry.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        registry = {}
    for key, entry in (registry if isinstance(registry, dict) else {}).items():
        found[key] = {"display_name": str((entry or {}).get("display_name") or key)}
    base = dashboards_root(state_dir)
    if base.is_dir():
        for sub in base.iterdir():
            if sub.is_dir() and (sub / "snapshots").is_dir():
                found.setdefault(sub.name, {"display_name": sub.name})
    for key, info in found.items():
        files = snapshot_files(state_dir, key)
        info["snapshots"] = len(files)
        info["last"] = _read(files[-1]) if files else None
    return found


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def page_data(snapshot: dict[str, Any]) -> str:
    """The snapshot as a JSON data block that cannot close its ``<script>`` element."""
    return json.dumps(snapshot, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@router.get("/dashboards")
def dashboards_page(request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """Every dashboard with its last refresh time and run."""
    ws = ctx_of(request).engine.workspace
    items = sorted(known_dashboards(ws.root, ws.state_dir).items())
    return render(request, "dashboards.html", title="Dashboards", items=items)


@router.get("/dashboards/{key}")
def dashboard_page(key: str, request: Request, snapshot: str | None = None,
                   user: UiUser = Depends(ui_user)) -> Response:
    """One dashboard drawn from its latest snapshot (or ``?snapshot=<file name>``)."""
    ws = ctx_of(request).engine.workspace
    if not _KEY.match(key):
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"no dashboard {key!r}")
    files = snapshot_files(ws.state_dir, key)
    if snapshot is not None:
        files = [f for f in files if f.name == snapshot]
    known = known_dashboards(ws.root, ws.state_dir)
    if key not in known or (snapshot is not None and not files):
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"no dashboard {key!r}" if key not in known
                       else f"dashboard {key!r} has no snapshot {snapshot!r}")
    data = _read(files[-1]) if files else None
    history = [f.name for f in reversed(snapshot_files(ws.state_dir, key))][:20]
    live = bool(getattr(request.app.state, "lakeview_live", False)) and snapshot is None
    return render(request, "lakeview.html", title=known[key]["display_name"], key=key, snap=data,
                  data=page_data(data) if data else None, history=history,
                  current=files[-1].name if files else None, live=live)
