"""Built-in plugin: AI/BI (Lakeview) ``.lvdash.json`` dashboards, refreshed on local Spark.

- ``dashboard_task`` refreshes a dashboard into an immutable snapshot (``task``).
- Bundle ``resources.dashboards`` entries are validated (``lakeloom_check_bundle_resource``),
  registered on deploy (with refresh jobs for their ``schedule``) and unregistered on destroy.
- ``lakeloom dashboards list|refresh|export`` and the web dashboard read the snapshots.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskType

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.spec.loader import SpecError


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
    from lakeloom.spec.loader import JobSpecError

    problems = [p for p in _check(settings, bundle_root) if p.severity == "error"]
    if problems:
        raise JobSpecError(problems)
    register(workspace, key, settings, bundle_root)
    return True


@hookimpl
def lakeloom_check_bundle_resource(kind: str, key: str, settings: dict[str, Any],
                                   bundle_root: Path) -> list[SpecError] | None:
    if kind != "dashboards":
        return None
    return _check(settings, bundle_root)


@hookimpl
def lakeloom_bundle_resource_removed(kind: str, key: str, workspace: Workspace) -> bool | None:
    if kind != "dashboards":
        return None
    from lakeloom.plugins.dashboards.discovery import unregister

    unregister(workspace, key)
    return True


def _check(settings: dict[str, Any], bundle_root: Path) -> list[SpecError]:
    from lakeloom.plugins.dashboards import schedule
    from lakeloom.plugins.dashboards.validate import validate_dashboard_file
    from lakeloom.spec.loader import SpecError

    if not settings.get("file_path"):
        return [SpecError("", None, "missing file_path: the .lvdash.json file of the dashboard", field="file_path")]
    path = Path(str(settings["file_path"]))
    path = path if path.is_absolute() else bundle_root / path
    return validate_dashboard_file(path) + schedule.check(settings)


@hookimpl
def lakeloom_server_app(app: Any, server: Any) -> None:
    """Live dashboard queries (parameters and filters) on serve's Spark session."""
    from lakeloom.plugins.dashboards.live import install_routes

    install_routes(app, server)
