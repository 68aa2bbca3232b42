"""``dashboard_task: {dashboard_id, subscription, warehouse_id, filters}``: refresh a dashboard
as a job task, on the run's shared Spark session.

``dashboard_id`` is a dashboard key (what ``${resources.dashboards.<key>.id}`` resolves to
in a bundle). ``warehouse_id`` is accepted and ignored: the run's session is the warehouse.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from lakeloom.plugin_api import SpecIssue, TaskContext, TaskFailed, TaskOutput, TaskType
from lakeloom.spec.models import Strict


class Subscriber(Strict):
    user_name: str | None = None
    destination_id: str | None = None


class Subscription(Strict):
    subscribers: list[Subscriber] = Field(default_factory=list)
    custom_subject: str | None = None
    paused: bool = False


class DashboardTask(Strict):
    dashboard_id: str
    subscription: Subscription | None = None
    warehouse_id: str | None = None
    filters: dict[str, str] = Field(default_factory=dict)


def _validate(settings: DashboardTask, base_dir: Path) -> list[SpecIssue]:
    if not settings.dashboard_id.strip():
        return [SpecIssue("dashboard_id", "must name a dashboard (its key, or ${resources.dashboards.<key>.id})")]
    if settings.dashboard_id.startswith("${"):
        return [SpecIssue("dashboard_id", f"{settings.dashboard_id} is an unresolved bundle reference; "
                                          f"run the job through `lakeloom bundle run`")]
    return []


def _run(ctx: TaskContext, settings: DashboardTask) -> TaskOutput:
    from lakeloom.plugins.dashboards import discovery, refresh, snapshots

    hook = ctx.run.hook if ctx.run is not None else None
    try:
        entry = discovery.find(ctx.workspace, settings.dashboard_id, hook)
        dash = discovery.open_dashboard(entry)
    except (LookupError, ValueError) as e:
        raise TaskFailed(str(e)) from None
    result = refresh.refresh(ctx.spark, dash, run_id=ctx.run_id, task_key=ctx.task_key,
                             parameters=settings.filters, overrides=refresh.DatasetDefaults.of(entry.settings))
    path = snapshots.save(ctx.workspace, result.snapshot)
    widgets = result.snapshot["widgets"]
    summary: dict[str, Any] = {"dashboard_id": dash.key, "snapshot": str(path),
                               "refreshed_at": result.snapshot["refreshed_at"],
                               "widgets": len(widgets), "failed_widgets": sorted(result.failed_widgets),
                               "failed_datasets": result.failed_datasets}
    print(f"dashboard {dash.key!r}: {len(widgets) - len(result.failed_widgets)}/{len(widgets)} widgets "
          f"refreshed; snapshot {path}")
    if settings.subscription is not None and not settings.subscription.paused:
        from lakeloom.plugins.dashboards.subscription import send_snapshot

        summary["subscription"] = send_snapshot(ctx, dash, path, settings.subscription)
    output = TaskOutput(output={"dashboard_output": summary})
    if result.failed_datasets:
        names = ", ".join(f"{name!r} ({error})" for name, error in result.failed_datasets.items())
        raise TaskFailed(f"dashboard {dash.key!r}: dataset {names} failed; the other widgets were refreshed",
                         output)
    return output


TASK_TYPE = TaskType("dashboard_task", DashboardTask, _run, needs_spark=True, validate=_validate,
                     description="refresh an AI/BI (.lvdash.json) dashboard into a stored snapshot")
