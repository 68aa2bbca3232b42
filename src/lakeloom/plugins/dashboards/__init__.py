"""Built-in plugin: AI/BI (Lakeview) ``.lvdash.json`` dashboards, refreshed on local Spark.

- ``dashboard_task`` refreshes a dashboard into an immutable snapshot (``task``).
- Bundle ``resources.dashboards`` entries are validated and registered on deploy.
- ``lakeloom dashboards list|refresh|export`` and the web dashboard read the snapshots.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskType

if TYPE_CHECKING:
    from lakeloom.config import Workspace


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    from lakeloom.plugins.dashboards.task import TASK_TYPE

    return [TASK_TYPE]


@hookimpl
def lakeloom_bundle_resource(kind: str, key: str, settings: dict[str, Any], bundle_root: Path,
                             workspace: Workspace) -> bool | None:
    if kind != "dashboards":
        return None
    from lakeloom.plugins.dashboards.discovery import register
    from lakeloom.plugins.dashboards.validate import validate_dashboard_file
    from lakeloom.spec.loader import JobSpecError

    path = Path(str(settings.get("file_path") or ""))
    path = path if path.is_absolute() else bundle_root / path
    problems = [p for p in validate_dashboard_file(path) if p.severity == "error"]
    if problems:
        raise JobSpecError(problems)
    register(workspace, key, settings, bundle_root)
    return True
