"""Who may see and do what on the dashboard: the API's job permissions, applied to pages.

Jobs' settings are parsed once per change (keyed by ``updated_time``), so a page listing
runs of many jobs does not validate every job's settings on every request.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from lakeloom.server.context import ServerContext
from lakeloom.server.auth import LEVELS, Principal, job_level
from lakeloom.server.errors import denied, not_found
from lakeloom.spec.models import Job

_cache: dict[tuple[str, int], tuple[int, Job]] = {}
_cache_lock = threading.Lock()


@dataclass
class JobAccess:
    """A job row, its parsed settings and the principal's level on it."""

    row: dict[str, Any]
    job: Job
    level: int

    @property
    def job_id(self) -> int:
        return int(self.row["job_id"])

    def can(self, level: str) -> bool:
        return self.level >= LEVELS[level]


def ctx_of(request: Request) -> ServerContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def parsed_job(ctx: ServerContext, row: dict[str, Any]) -> Job:
    """``Job`` of a job row, cached per store and job until the row's ``updated_time`` changes."""
    key = (ctx.store.url, int(row["job_id"]))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == row["updated_time"]:
        return hit[1]
    job = Job.model_validate(json.loads(row["settings_json"]))
    with _cache_lock:
        if len(_cache) > 20_000:
            _cache.clear()
        _cache[key] = (row["updated_time"], job)
    return job


def job_access(ctx: ServerContext, who: Principal, job_id: Any, need: str = "CAN_VIEW") -> JobAccess:
    """The job if ``who`` holds ``need`` on it; 404 / 403 otherwise."""
    row = ctx.job_row(job_id)
    job = parsed_job(ctx, row)
    access = JobAccess(row, job, job_level(who, job, row.get("creator")))
    if not access.can(need):
        raise denied(f"{who.name} does not have {need} permission on job {job.name!r}")
    return access


def run_access(ctx: ServerContext, who: Principal, run_id: Any, need: str = "CAN_VIEW") -> tuple[dict[str, Any],
                                                                                                JobAccess]:
    """The run row and its job's access if ``who`` holds ``need`` on the job."""
    row = ctx.run_row(run_id)
    try:
        return row, job_access(ctx, who, row["job_id"], need)
    except Exception as e:
        if getattr(e, "status", None) == 404:  # the job was deleted under a finished run
            job = Job.model_validate(json.loads(row["settings_json"]))
            access = JobAccess({"job_id": row["job_id"], "creator": None, "name": row["run_name"]}, job,
                               job_level(who, job, None))
            if access.can(need):
                return row, access
        raise


def visible_jobs(ctx: ServerContext, who: Principal, *, deployed_only: bool = True) -> list[JobAccess]:
    """Jobs ``who`` may view, by id (deployed jobs only, unless ``deployed_only`` is False)."""
    rows = ctx.store.deployed_jobs() if deployed_only else ctx.store.list_jobs()
    out = []
    for row in rows:
        job = parsed_job(ctx, row)
        level = job_level(who, job, row.get("creator"))
        if level >= LEVELS["CAN_VIEW"]:
            out.append(JobAccess(row, job, level))
    return out


def viewable_job_ids(ctx: ServerContext, who: Principal) -> list[int] | None:
    """Ids of every job (one-time runs' included) ``who`` may view; None for admins (all)."""
    if who.is_admin:
        return None
    return [a.job_id for a in visible_jobs(ctx, who, deployed_only=False)]
