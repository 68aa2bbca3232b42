"""Jobs API 2.2, job endpoints: create, get, list, update, reset, delete, run-now."""
from __future__ import annotations

import base64
import copy
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lakeloom.server.auth import (LEVELS, Principal, authenticate, check_run_as, job_level, owner_of, require,
                                  require_entitlement)
from lakeloom.server.context import ServerContext
from lakeloom.server.errors import invalid, invalid_state
from lakeloom.server.limits import check_job_settings, check_run_parameters, page_tasks
from lakeloom.spec.models import Job

if TYPE_CHECKING:
    from lakeloom.engine.executor import Launch
    from lakeloom.store.records import StoredJob

router = APIRouter(tags=["jobs"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class JobIdRequest(_Open):
    job_id: int


class UpdateRequest(_Open):
    job_id: int
    new_settings: dict[str, Any] = Field(default_factory=dict)
    fields_to_remove: list[str] = Field(default_factory=list)


class ResetRequest(_Open):
    job_id: int
    new_settings: dict[str, Any]


class QueueRequest(_Open):
    enabled: bool


class RunNowRequest(_Open):
    job_id: int
    job_parameters: dict[str, Any] | None = None
    idempotency_token: str | None = Field(default=None, max_length=64)
    only: list[str] | None = None
    queue: QueueRequest | None = None


def ctx_of(request: Request) -> ServerContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_page_token(token: str | None, offset: int) -> int:
    if not token:
        return offset
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "o":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"invalid page_token {token!r}") from None


def validated_job(ctx: ServerContext, settings: dict[str, Any]) -> tuple[Job, dict[str, Any]]:
    """Check settings like ``lakeloom validate`` does (model, task types, references, cron)."""
    from lakeloom.engine.prepare import loaded_job
    from lakeloom.engine.validate import require_valid
    from lakeloom.spec.cron import CronError
    from lakeloom.spec.cron import validate as validate_cron
    from lakeloom.spec.loader import JobSpecError

    settings = dict(settings)
    check_job_settings(settings)
    acl = settings.pop("access_control_list", None) or []
    perms = list(settings.get("permissions") or [])
    for entry in acl:
        principal = {k: entry[k] for k in ("user_name", "group_name", "service_principal_name") if entry.get(k)}
        perms.append({**principal, "level": entry.get("permission_level") or entry.get("level")})
    if perms:
        settings["permissions"] = perms
    try:
        job = Job.model_validate(settings)
    except ValidationError as e:
        raise invalid("invalid job settings: " + "; ".join(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors(include_url=False))) from None
    if job.schedule is not None:
        try:
            validate_cron(job.schedule.quartz_cron_expression, job.schedule.timezone_id)
        except CronError as e:
            raise invalid(f"schedule: {e}") from None
    try:
        require_valid(loaded_job(job, source=None, job_key=None, base_dir=ctx.engine.workspace.root), ctx.engine.pm)
    except JobSpecError as e:
        raise invalid(str(e)) from None
    return job, job.model_dump(mode="json", exclude_none=True, by_alias=True)


def job_shape(ctx: ServerContext, stored: StoredJob, *, expand_tasks: bool = True,
              pause: str | None = None) -> dict[str, Any]:
    """The Jobs API ``Job`` object; ``pause`` overrides the triggers' pause_status."""
    job = stored.job
    settings = copy.deepcopy(stored.settings)
    if pause:
        for key in ("schedule", "trigger", "continuous"):
            if isinstance(settings.get(key), dict):
                settings[key]["pause_status"] = pause
    if not expand_tasks:
        settings.pop("tasks", None)
    owner = owner_of(job, stored.creator)
    return {"job_id": stored.job_id, "creator_user_name": stored.creator or "",
            "run_as_user_name": (job.run_as.principal if job.run_as else None) or owner or "",
            "settings": settings, "created_time": stored.created_time}


@router.post("/create")
def create(body: dict[str, Any], request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Create a job from ``JobSettings`` (``access_control_list`` becomes its permissions)."""
    ctx = ctx_of(request)
    require_entitlement(who, ctx.entitlements, "jobs.create", "jobs/create")
    check_run_as(who, body)
    job, settings = validated_job(ctx, body)
    stored = ctx.store.create_job(job.name, settings, creator=who.name)
    return {"job_id": stored.job_id}


@router.get("/get")
def get(job_id: int, request: Request, page_token: str | None = None,
        who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """The job; 100 tasks per page, ``next_page_token`` for the rest (API 2.2)."""
    ctx = ctx_of(request)
    stored = ctx.job(job_id)
    require(who, stored.job, stored.creator, "CAN_VIEW", "jobs/get", job_id=stored.job_id)
    shape = job_shape(ctx, stored, pause=ctx.store.pause_overrides().get(stored.job_id))
    token = page_tasks(shape["settings"], page_token)
    if token:
        shape["next_page_token"] = token
    return shape


@router.get("/list")
def list_jobs(request: Request, limit: int = 20, offset: int = 0, page_token: str | None = None,
              name: str | None = None, expand_tasks: bool = False,
              who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Jobs the caller can view, by job id; ``page_token`` pages through them."""
    if not 1 <= limit <= 100:
        raise invalid("limit must be between 1 and 100")
    if offset < 0:
        raise invalid("offset must not be negative")
    ctx = ctx_of(request)
    start = decode_page_token(page_token, offset)
    overrides = ctx.store.pause_overrides()
    visible = []
    for stored in ctx.store.deployed_jobs():
        if name is not None and stored.name != name:
            continue
        if job_level(who, stored.job, stored.creator) >= LEVELS["CAN_VIEW"]:
            visible.append(stored)
    page = visible[start:start + limit]
    shapes = [job_shape(ctx, j, expand_tasks=expand_tasks, pause=overrides.get(j.job_id)) for j in page]
    for shape in shapes:  # as API 2.2: at most 100 tasks per listed job
        page_tasks(shape["settings"], None)
    out: dict[str, Any] = {"jobs": shapes, "has_more": start + limit < len(visible)}
    if out["has_more"]:
        out["next_page_token"] = encode_page_token(start + limit)
    if start > 0:
        out["prev_page_token"] = encode_page_token(max(0, start - limit))
    return out


def _merge_tasks(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {t["task_key"]: t for t in old}
    for t in new:
        by_key[t["task_key"]] = t
    return list(by_key.values())


@router.post("/update")
def update(body: UpdateRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Partial update: top-level fields replaced, ``tasks`` merged by task_key, ``fields_to_remove``
    (top-level names or ``tasks/<key>``) removed."""
    ctx = ctx_of(request)
    stored = ctx.job(body.job_id)
    require(who, stored.job, stored.creator, "CAN_MANAGE", "jobs/update", job_id=stored.job_id)
    settings = copy.deepcopy(stored.settings)
    new = dict(body.new_settings)
    if "tasks" in new:
        new["tasks"] = _merge_tasks(settings.get("tasks", []), new["tasks"])
    settings.update(new)
    for f in body.fields_to_remove:
        if f.startswith("tasks/"):
            settings["tasks"] = [t for t in settings.get("tasks", []) if t.get("task_key") != f[len("tasks/"):]]
        else:
            settings.pop(f, None)
    _save(ctx, who, stored, settings, touches_pause=any(k in new for k in ("schedule", "trigger", "continuous")))
    return {}


@router.post("/reset")
def reset(body: ResetRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Replace all of a job's settings."""
    ctx = ctx_of(request)
    stored = ctx.job(body.job_id)
    require(who, stored.job, stored.creator, "CAN_MANAGE", "jobs/reset", job_id=stored.job_id)
    _save(ctx, who, stored, dict(body.new_settings), touches_pause=True)
    return {}


#: Settings that decide which code a job runs: changing them needs the jobs.create entitlement.
_CODE_FIELDS = ("tasks", "environments", "git_source", "job_clusters")


def _save(ctx: ServerContext, who: Principal, stored: StoredJob, settings: dict[str, Any], *,
          touches_pause: bool) -> None:
    old = stored.settings
    if any(settings.get(k) != old.get(k) for k in _CODE_FIELDS):
        require_entitlement(who, ctx.entitlements, "jobs.create", "changing a job's tasks")
    if settings.get("run_as") != old.get("run_as"):
        check_run_as(who, settings)
    job, normalized = validated_job(ctx, settings)
    ctx.store.update_job(stored.job_id, name=job.name, settings=normalized)
    if touches_pause:
        ctx.store.set_pause(stored.job_id, None, who.name)


@router.post("/delete")
def delete(body: JobIdRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Delete a job and its runs. Active runs are cancelled first; retry once they have ended."""
    ctx = ctx_of(request)
    stored = ctx.job(body.job_id)
    require(who, stored.job, stored.creator, "CAN_MANAGE", "jobs/delete", job_id=stored.job_id)
    active = ctx.store.list_runs(job_id=stored.job_id, active_only=True, limit=1000)
    if active:
        for r in active:
            ctx.executor.cancel(r.run_id)
        raise invalid_state(f"job {stored.job_id} had {len(active)} active run(s); they are being cancelled, "
                            f"retry the delete when they have ended")
    run_ids = [r.run_id for r in ctx.store.list_runs(job_id=stored.job_id, limit=1_000_000)]
    ctx.store.delete_job(stored.job_id)
    ctx.delete_run_files(run_ids)
    return {}


def start_run_now(ctx: ServerContext, body: RunNowRequest, who: Principal) -> Launch:
    """Start a run of a stored job as ``run-now`` does; the launch says whether it started,
    queued or was skipped (and why)."""
    from lakeloom.engine.prepare import RunTrigger
    from lakeloom.spec.loader import JobSpecError

    stored = ctx.job(body.job_id)
    job = stored.job
    require(who, job, stored.creator, "CAN_MANAGE_RUN", "jobs/run-now", job_id=stored.job_id)
    check_run_parameters(body.model_dump(exclude_none=True))
    params = {k: str(v) for k, v in (body.job_parameters or {}).items()}
    legacy = (body.model_extra or {}).get("notebook_params") or (body.model_extra or {}).get("python_named_params")
    if isinstance(legacy, dict):
        params = {**{k: str(v) for k, v in legacy.items()}, **params}
    run_as = (job.run_as.principal if job.run_as else None) or owner_of(job, stored.creator) or who.name
    try:
        return ctx.executor.start(stored, trigger=RunTrigger(run_as=run_as, creator=who.name), params=params,
                                  only=body.only,
                                  queue=body.queue.enabled if body.queue else None,
                                  idempotency_token=body.idempotency_token)
    except JobSpecError as e:
        raise invalid(str(e)) from None
    except ValueError as e:
        raise invalid(str(e)) from None
    except RuntimeError as e:
        raise invalid_state(str(e)) from None


@router.post("/run-now")
def run_now(body: RunNowRequest, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Start a run; it runs as the job's ``run_as`` principal (default: its owner)."""
    launch = start_run_now(ctx_of(request), body, who)
    return {"run_id": launch.run_id, "number_in_job": launch.run_id}
