"""Who may see and do what on the dashboard: the API's job permissions, applied to pages.

Jobs' settings are parsed once per change (keyed by ``updated_time``), so a page listing
runs of many jobs does not validate every job's settings on every request.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from lakeloom.server.context import ServerContext
from lakeloom.server.auth import LEVELS, Principal, job_level
from lakeloom.server.errors import denied
from lakeloom.spec.models import Job
from lakeloom.store.records import RunRecord, StoredJob

_cache: dict[tuple[str, int], tuple[int, Job]] = {}
_cache_lock = threading.Lock()


@dataclass
class JobAccess:
    """A job (its id, creator, settings and parsed model) and the principal's level on it."""

    job_id: int
    creator: str | None
    settings: dict[str, Any]
    job: Job
    level: int

    def can(self, level: str) -> bool:
        return self.level >= LEVELS[level]


def ctx_of(request: Request) -> ServerContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def parsed_job(ctx: ServerContext, stored: StoredJob) -> Job:
    """``Job`` of a stored job, cached per store and job until its ``updated_time`` changes."""
    key = (ctx.store.url, stored.job_id)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == stored.updated_time:
        return hit[1]
    job = stored.job
    with _cache_lock:
        if len(_cache) > 20_000:
            _cache.clear()
        _cache[key] = (stored.updated_time, job)
    return job


def _access(ctx: ServerContext, who: Principal, stored: StoredJob) -> JobAccess:
    job = parsed_job(ctx, stored)
    return JobAccess(stored.job_id, stored.creator, stored.settings, job, job_level(who, job, stored.creator))


def job_access(ctx: ServerContext, who: Principal, job_id: Any, need: str = "CAN_VIEW") -> JobAccess:
    """The job if ``who`` holds ``need`` on it; 404 / 403 otherwise."""
    access = _access(ctx, who, ctx.job(job_id))
    if not access.can(need):
        raise denied(f"{who.name} does not have {need} permission on job {access.job.name!r}")
    return access


def run_access(ctx: ServerContext, who: Principal, run_id: Any, need: str = "CAN_VIEW") -> tuple[RunRecord,
                                                                                                JobAccess]:
    """The run and its job's access if ``who`` holds ``need`` on the job."""
    run = ctx.run(run_id)
    try:
        return run, job_access(ctx, who, run.job_id, need)
    except Exception as e:
        if getattr(e, "status", None) == 404:  # the job was deleted under a finished run
            job = run.job
            access = JobAccess(run.job_id, None, run.settings, job, job_level(who, job, None))
            if access.can(need):
                return run, access
        raise


def visible_jobs(ctx: ServerContext, who: Principal, *, deployed_only: bool = True) -> list[JobAccess]:
    """Jobs ``who`` may view, by id (deployed jobs only, unless ``deployed_only`` is False)."""
    stored_jobs = ctx.store.deployed_jobs() if deployed_only else ctx.store.list_jobs()
    return [a for a in (_access(ctx, who, j) for j in stored_jobs) if a.level >= LEVELS["CAN_VIEW"]]


def viewable_job_ids(ctx: ServerContext, who: Principal) -> list[int] | None:
    """Ids of every job (one-time runs' included) ``who`` may view; None for admins (all)."""
    if who.is_admin:
        return None
    return [a.job_id for a in visible_jobs(ctx, who, deployed_only=False)]
