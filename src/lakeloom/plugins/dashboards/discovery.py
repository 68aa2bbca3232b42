"""Where dashboards come from: bundle resources, the workspace's ``dashboards/`` folder,
and pipeline packages (``lakeloom_dashboards``), in that order of precedence.

Bundle deploys record their ``resources.dashboards`` entries in
``.lakeloom/dashboards/registry.json`` (key → file, display name), so runs and ``serve``
find them without re-reading the bundle.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.plugins.dashboards.model import SUFFIX, Dashboard, key_for, load

if TYPE_CHECKING:
    from lakeloom.config import Workspace

WORKSPACE_FOLDER = "dashboards"


class DashboardNotFound(LookupError):
    """No dashboard has that key; the message lists the known ones."""


@dataclass(frozen=True)
class DashboardEntry:
    key: str
    path: Path
    display_name: str
    origin: str  # "bundle", "workspace" or "package"
    settings: dict[str, Any] | None = None


def dashboards_dir(workspace: Workspace) -> Path:
    return workspace.state_dir / "dashboards"


def _registry_path(workspace: Workspace) -> Path:
    return dashboards_dir(workspace) / "registry.json"


def read_registry(workspace: Workspace) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_registry_path(workspace).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write through a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def register(workspace: Workspace, key: str, settings: dict[str, Any], bundle_root: Path) -> DashboardEntry:
    """Record a bundle ``resources.dashboards.<key>`` entry (``file_path`` already absolute)
    and deploy the refresh jobs of its ``schedule`` (see :mod:`.schedule`)."""
    from lakeloom.plugins.dashboards import schedule

    file_path = Path(str(settings.get("file_path") or ""))
    if not file_path.is_absolute():
        file_path = bundle_root / file_path
    registry = read_registry(workspace)
    previous = list((registry.get(key) or {}).get("schedule_jobs") or [])
    rest = {k: v for k, v in settings.items() if k != "file_path"}
    job_ids = schedule.deploy(workspace, key, settings, str(file_path), previous)
    registry[key] = {"file_path": str(file_path), "display_name": settings.get("display_name") or key,
                     "settings": rest, "schedule_jobs": job_ids}
    write_json_atomic(_registry_path(workspace), registry)
    return DashboardEntry(key, file_path, str(registry[key]["display_name"]), "bundle", rest)


def unregister(workspace: Workspace, key: str) -> bool:
    """Forget a bundle dashboard and undeploy its refresh jobs; False when it was not registered.
    Its snapshots stay (they are the history of runs that happened)."""
    from lakeloom.plugins.dashboards import schedule

    registry = read_registry(workspace)
    entry = registry.pop(key, None)
    if entry is None:
        return False
    schedule.undeploy(workspace, list(entry.get("schedule_jobs") or []))
    write_json_atomic(_registry_path(workspace), registry)
    return True


def discover(workspace: Workspace, hook: Any = None) -> dict[str, DashboardEntry]:
    """Every dashboard the workspace knows, by key (bundle over workspace over package)."""
    found: dict[str, DashboardEntry] = {}
    if hook is not None:
        for items in hook.lakeloom_dashboards(workspace=workspace):
            for item in items or []:
                key, path = (item if isinstance(item, tuple) else (key_for(Path(item)), Path(item)))
                found[str(key)] = DashboardEntry(str(key), Path(path), str(key), "package")
    folder = workspace.root / WORKSPACE_FOLDER
    if folder.is_dir():
        for path in sorted(folder.rglob(f"*{SUFFIX}")):
            found[key_for(path)] = DashboardEntry(key_for(path), path, key_for(path), "workspace")
    for key, entry in read_registry(workspace).items():
        found[key] = DashboardEntry(key, Path(entry["file_path"]), str(entry.get("display_name") or key),
                                    "bundle", entry.get("settings") or {})
    return found


def find(workspace: Workspace, key: str, hook: Any = None) -> DashboardEntry:
    known = discover(workspace, hook)
    if key in known:
        return known[key]
    raise DashboardNotFound(f"no dashboard {key!r} (known: {', '.join(sorted(known)) or 'none'}; dashboards come "
                            f"from bundle resources.dashboards, {WORKSPACE_FOLDER}/*{SUFFIX} in the workspace, "
                            f"or a package's lakeloom_dashboards hook)")


def open_dashboard(entry: DashboardEntry) -> Dashboard:
    return load(entry.path, entry.key, entry.display_name)
