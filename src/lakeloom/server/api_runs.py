"""Jobs API 2.2, run endpoints: runs/submit, get, list, get-output, cancel, cancel-all,
repair, delete."""
from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from lakeloom.server.api_jobs import _Open, ctx_of, validated_job
from lakeloom.server.auth import LEVELS, Principal, authenticate, job_level, require, require_entitlement
from lakeloom.server.context import ServerContext
from lakeloom.server.errors import invalid, invalid_state, not_found
from lakeloom.server.limits import check_job_settings
from lakeloom.store.run_shape import run_shape, task_output

if TYPE_CHECKING:
    from lakeloom.spec.models import Job
    from lakeloom.store.records import RunRecord

router = APIRouter(tags=["runs"])

ACTIVE = ("QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY")


class RunIdRequest(_Open):
    run_id: int


class CancelAllRequest(_Open):
    job_id: int | None = None
    all_queued_runs: bool = False


class RepairRequest(_Open):
    run_id: int
    rerun_tasks: list[str] | None = None
    rerun_all_failed_tasks: bool = False
    rerun_dependent_tasks: bool = False
    latest_repair_id: int | None = None
    job_parameters: dict[str, Any] | None = None


class SubmitRequest(_Open):
    run_name: str | None = None
    tasks: list[dict[str, Any]] = Field(min_length=1)
    idempotency_token: str | None = Field(default=None, max_length=64)


def _run_job(ctx: ServerContext, run: RunRecord) -> tuple[Job, str | None]:
    """The job whose permissions govern ``run`` (its snapshot when the job is gone) and its creator."""
    stored = ctx.store.get_job(run.job_id)
    return (stored.job, stored.creator) if stored else (run.job, None)


def _authorized_run(ctx: ServerContext, who: Principal, run_id: Any, level: str, what: str) -> RunRecord:
    run = ctx.run(run_id)
    job, creator = _run_job(ctx, run)
    require(who, job, creator, level, what, job_id=run.job_id)
    return run


@router.post("/runs/submit")
def submit(body: SubmitRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """A one-time run (not a saved job); it runs as the caller, who owns it."""
    from lakeloom.engine.prepare import RunTrigger

    ctx = ctx_of(request)
    require_entitlement(who, ctx.entitlements, "runs.submit", "runs/submit")
    check_job_settings(body.model_dump(exclude_none=True))
    settings = {k: v for k, v in body.model_dump(exclude_none=True).items() if k not in ("idempotency_token",)}
    settings["name"] = settings.pop("run_name", None) or "Untitled"
    settings.setdefault("max_concurrent_runs", 1000)
    job, normalized = validated_job(ctx, settings)
    stored = ctx.store.create_job(job.name, normalized, creator=who.name, deployed=False)
    launch = ctx.executor.start(stored, trigger=RunTrigger(run_type="SUBMIT_RUN", run_as=who.name, creator=who.name),
                                idempotency_token=body.idempotency_token)
    return {"run_id": launch.run_id}


@router.get("/runs/get")
def get_run(run_id: int, request: Request, include_history: bool = False, include_resolved_values: bool = False,
            page_token: str | None = None, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    ctx = ctx_of(request)
    _authorized_run(ctx, who, run_id, "CAN_VIEW", "runs/get")
    run = run_shape(ctx.store, run_id, base_url=ctx.base_url)
    if run is None:
        raise not_found(f"Run {run_id} does not exist.")
    return run


def _after_token(token: str | None) -> tuple[int, int] | None:
    if not token:
        return None
    try:
        kind, start, rid = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if kind != "k":
            raise ValueError(kind)
        return int(start), int(rid)
    except ValueError:
        raise invalid(f"invalid page_token {token!r}") from None


@router.get("/runs/list")
def list_runs(request: Request, job_id: int | None = None, active_only: bool = False, completed_only: bool = False,
              run_type: str | None = None, start_time_from: int | None = None, start_time_to: int | None = None,
              expand_tasks: bool = False, limit: int = 25, offset: int = 0, page_token: str | None = None,
              who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Runs newest first, 1-25 per page; ``next_page_token`` continues after the last one."""
    if active_only and completed_only:
        raise invalid("active_only and completed_only cannot both be true")
    if not 1 <= limit <= 25:
        raise invalid("limit must be between 1 and 25")
    if offset < 0:
        raise invalid("offset must not be negative")
    ctx = ctx_of(request)
    if job_id is not None:
        stored = ctx.job(job_id)
        require(who, stored.job, stored.creator, "CAN_VIEW", "runs/list", job_id=stored.job_id)
        job_ids: list[int] | None = [job_id]
    elif who.is_admin:
        job_ids = None
    else:
        job_ids = [j.job_id for j in ctx.store.list_jobs() if job_level(who, j.job, j.creator) >= LEVELS["CAN_VIEW"]]
    rows = ctx.store.list_runs_page(job_ids=job_ids, active_only=active_only, completed_only=completed_only,
                                    run_type=run_type, start_from=start_time_from, start_to=start_time_to,
                                    limit=limit + 1, offset=offset if not page_token else 0,
                                    after=_after_token(page_token))
    more = len(rows) > limit
    rows = rows[:limit]
    runs = [run_shape(ctx.store, r.run_id, include_tasks=expand_tasks, base_url=ctx.base_url) for r in rows]
    out: dict[str, Any] = {"runs": [r for r in runs if r], "has_more": more}
    if more:
        last = rows[-1]
        out["next_page_token"] = base64.urlsafe_b64encode(f"k:{last.start_time}:{last.run_id}".encode()).decode()
    return out


@router.get("/runs/get-output")
def get_output(run_id: int, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Output of one task run (``tasks[].run_id``). A job run id works when the run has exactly one task."""
    ctx = ctx_of(request)
    task_row = ctx.store.get_task_run(run_id)
    if task_row is None:
        run = ctx.store.get_run(run_id)
        if run is None:
            raise not_found(f"Run {run_id} does not exist.")
        tops = [r for r in ctx.store.task_runs(run_id) if r.iteration is None]
        if len({r.task_key for r in tops}) != 1:
            raise invalid(f"run {run_id} has {len({r.task_key for r in tops})} tasks: retrieving the output of "
                          f"runs with multiple tasks is not supported; pass a task run id (tasks[].run_id)")
        task_row = tops[-1]
    run = _authorized_run(ctx, who, task_row.run_id, "CAN_VIEW", "runs/get-output")
    out = task_output(ctx.store, task_row.task_run_id) or {}
    out["metadata"] = {**out.get("metadata", {}), "job_id": run.job_id}
    if "error" in out and out.get("error_trace") is None:
        out.pop("error_trace", None)
    return out


@router.post("/runs/cancel")
def cancel(body: RunIdRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Cancel a run (queued runs end at once; running ones stop their tasks). Finished runs: no-op."""
    ctx = ctx_of(request)
    run = _authorized_run(ctx, who, body.run_id, "CAN_MANAGE_RUN", "runs/cancel")
    if run.life_cycle_state in ACTIVE:
        ctx.store.reap_orphans()  # a run whose process died ends now (DRIVER_ERROR) instead of never
        ctx.executor.cancel(body.run_id)
    return {}


@router.post("/runs/cancel-all")
def cancel_all(body: CancelAllRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Cancel every active run of ``job_id`` (or, with ``all_queued_runs``, every queued run the caller may manage)."""
    ctx = ctx_of(request)
    if body.job_id is None and not body.all_queued_runs:
        raise invalid("give job_id or all_queued_runs")
    if body.job_id is not None:
        stored = ctx.job(body.job_id)
        require(who, stored.job, stored.creator, "CAN_MANAGE_RUN", "runs/cancel-all", job_id=stored.job_id)
        targets = ctx.store.list_runs(job_id=body.job_id, active_only=True, limit=10_000)
    else:
        targets = []
        for r in ctx.store.queued_runs():
            job, creator = _run_job(ctx, r)
            if job_level(who, job, creator) >= LEVELS["CAN_MANAGE_RUN"]:
                targets.append(r)
    for r in targets:
        ctx.executor.cancel(r.run_id)
    return {}


@router.post("/runs/repair")
def repair(body: RepairRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Rerun tasks inside a finished run; ``latest_repair_id`` is required after the first repair."""
    from lakeloom.spec.loader import JobSpecError

    ctx = ctx_of(request)
    run = _authorized_run(ctx, who, body.run_id, "CAN_MANAGE_RUN", "runs/repair")
    if run.life_cycle_state in ACTIVE:
        raise invalid_state(f"run {body.run_id} is still in progress; it can be repaired once it has ended")
    if body.rerun_tasks and body.rerun_all_failed_tasks:
        raise invalid("give rerun_tasks or rerun_all_failed_tasks, not both")
    if body.rerun_tasks is not None and len(set(body.rerun_tasks)) != len(body.rerun_tasks):
        raise invalid("rerun_tasks has duplicate task keys")
    repairs = ctx.store.repairs(body.run_id)
    if repairs and body.latest_repair_id != repairs[-1].repair_id:
        raise invalid(f"latest_repair_id must be {repairs[-1].repair_id} (the run's latest repair); "
                      f"got {body.latest_repair_id}")
    params = {k: str(v) for k, v in (body.job_parameters or {}).items()} or None
    try:
        repair_id = ctx.executor.repair(body.run_id, rerun_tasks=body.rerun_tasks,
                                        rerun_all_failed=body.rerun_all_failed_tasks,
                                        rerun_dependents=body.rerun_dependent_tasks, params=params)
    except (JobSpecError, ValueError) as e:
        raise invalid(str(e)) from None
    return {"repair_id": repair_id}


@router.post("/runs/delete")
def delete_run(body: RunIdRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Delete a finished run and everything recorded about it."""
    ctx = ctx_of(request)
    run = _authorized_run(ctx, who, body.run_id, "CAN_MANAGE", "runs/delete")
    if run.life_cycle_state in ACTIVE:
        raise invalid_state(f"run {body.run_id} is active; cancel it before deleting it")
    ctx.store.delete_runs([body.run_id])
    ctx.delete_run_files([body.run_id])
    return {}
