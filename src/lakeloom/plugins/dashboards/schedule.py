"""Scheduled refreshes: a bundle dashboard's ``schedule`` (or ``schedules``) becomes a deployed
job with one ``dashboard_task``, which ``lakeloom serve``'s scheduler fires like any other job.

Both Lakeview's schedule shape and the Jobs one are accepted::

    schedule: {cron_schedule: {quartz_cron_expression: "0 0 6 * * ?", timezone_id: UTC},
               pause_status: UNPAUSED, subscription: {subscribers: [{user_name: a@b.c}]}}
    schedule: {quartz_cron_expression: "0 0 6 * * ?", timezone_id: UTC}

The job ids are kept in the dashboard registry, so a redeploy updates the same jobs and a
destroy (or a deploy without the dashboard) undeploys them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeloom.spec.loader import SpecError

if TYPE_CHECKING:
    from lakeloom.config import Workspace

TAG = "lakeloom_dashboard"


def schedules_of(settings: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(field path, schedule mapping)`` for each schedule the resource declares."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(settings.get("schedule"), dict):
        found.append(("schedule", settings["schedule"]))
    for i, item in enumerate(settings.get("schedules") or []):
        if isinstance(item, dict):
            found.append((f"schedules[{i}]", item))
    return found


def _cron(schedule: dict[str, Any]) -> dict[str, Any]:
    cron = schedule.get("cron_schedule") if isinstance(schedule.get("cron_schedule"), dict) else schedule
    return {"quartz_cron_expression": cron.get("quartz_cron_expression"),
            "timezone_id": cron.get("timezone_id") or "UTC"}


def check(settings: dict[str, Any]) -> list[SpecError]:
    """Problems with the resource's schedules (field paths relative to the resource)."""
    from lakeloom.spec.cron import CronError, validate

    problems: list[SpecError] = []
    for path, schedule in schedules_of(settings):
        cron = _cron(schedule)
        if not cron["quartz_cron_expression"]:
            problems.append(SpecError("", None, "missing quartz_cron_expression (in cron_schedule)", field=path))
            continue
        try:
            validate(str(cron["quartz_cron_expression"]), str(cron["timezone_id"]))
        except CronError as e:
            problems.append(SpecError("", None, str(e), field=f"{path}.cron_schedule"))
        pause = schedule.get("pause_status")
        if pause not in (None, "PAUSED", "UNPAUSED"):
            problems.append(SpecError("", None, f"pause_status must be PAUSED or UNPAUSED, not {pause!r}",
                                      field=f"{path}.pause_status"))
    return problems


def refresh_jobs(key: str, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The job settings of each schedule: one ``dashboard_task`` refreshing ``key``."""
    display = str(settings.get("display_name") or key)
    jobs = []
    for i, (_, schedule) in enumerate(schedules_of(settings)):
        task: dict[str, Any] = {"dashboard_id": key}
        if isinstance(schedule.get("subscription"), dict):
            task["subscription"] = schedule["subscription"]
        suffix = f" #{i + 1}" if i else ""
        jobs.append({"name": f"{display} (dashboard refresh{suffix})",
                     "schedule": {**_cron(schedule), "pause_status": schedule.get("pause_status") or "UNPAUSED"},
                     "tags": {TAG: key}, "max_concurrent_runs": 1,
                     "tasks": [{"task_key": "refresh", "dashboard_task": task}]})
    return jobs


def deploy(workspace: Workspace, key: str, settings: dict[str, Any], source: str,
           previous: list[int]) -> list[int]:
    """Record the refresh jobs in the store (deployed, so ``serve`` fires them); jobs of an
    earlier deploy that this one no longer has are undeployed. Returns the job ids."""
    from lakeloom.store.store import open_store

    wanted = refresh_jobs(key, settings)
    if not wanted and not previous:
        return []
    store = open_store(workspace.store_url)
    ids = [store.upsert_job(job["name"], job, source, f"dashboards.{key}", deployed=True) for job in wanted]
    for job_id in previous:
        if job_id not in ids:
            store.update_job(int(job_id), deployed=False)
    return ids


def undeploy(workspace: Workspace, job_ids: list[int]) -> None:
    if not job_ids:
        return
    from lakeloom.store.store import open_store

    store = open_store(workspace.store_url)
    for job_id in job_ids:
        store.update_job(int(job_id), deployed=False)
