"""Bearer-token authentication and job permissions.

Every API call needs ``Authorization: Bearer <token>`` with a token made by
``lakeloom tokens create`` (stored hashed). Job permissions follow the Jobs API levels,
lowest first: CAN_VIEW < CAN_MANAGE_RUN < CAN_MANAGE < IS_OWNER. A principal's level on
a job is the highest of: IS_OWNER for the job's creator, the job's ``permissions``
entries naming the principal or a group it belongs to (``server.groups: {group:
[members]}``; every principal is in ``users``), and IS_OWNER for admin tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from lakeloom.server.errors import denied, unauthenticated

if TYPE_CHECKING:
    from lakeloom.spec.models import Job

LEVELS = {"CAN_VIEW": 1, "CAN_MANAGE_RUN": 2, "CAN_MANAGE": 3, "IS_OWNER": 4}


@dataclass(frozen=True)
class Principal:
    """The caller: a user or service principal name, admin flag and groups."""

    name: str
    is_admin: bool = False
    groups: frozenset[str] = field(default_factory=frozenset)


def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the principal of the request's bearer token, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("missing bearer token: send 'Authorization: Bearer <token>' "
                              "(create one with `lakeloom tokens create --principal NAME`)")
    ctx = request.app.state.ctx
    row = ctx.store.lookup_token(token.strip())
    if row is None:
        raise unauthenticated("invalid, expired or revoked token")
    ctx.note_token_use(row["token_id"])
    groups = {"users"} | {g for g, members in ctx.groups.items() if row["principal"] in members}
    return Principal(row["principal"], bool(row["is_admin"]), frozenset(groups))


def job_level(principal: Principal, job: Job, creator: str | None) -> int:
    """The principal's permission level on a job (0: none)."""
    if principal.is_admin or (creator is not None and creator == principal.name):
        return LEVELS["IS_OWNER"]
    best = 0
    for p in job.permissions:
        if principal.name in (p.user_name, p.service_principal_name) or (
                p.group_name is not None and p.group_name in principal.groups):
            best = max(best, LEVELS[p.level])
    return best


def require(principal: Principal, job: Job, creator: str | None, level: str, what: str) -> None:
    """Raise 403 unless the principal holds ``level`` (or higher) on the job."""
    if job_level(principal, job, creator) < LEVELS[level]:
        raise denied(f"{principal.name} does not have {level} permission on job {job.name!r} ({what})")


def owner_of(job: Job, creator: str | None) -> str | None:
    """The job's owner: its creator, else the first IS_OWNER entry."""
    if creator:
        return creator
    for p in job.permissions:
        if p.level == "IS_OWNER":
            return p.user_name or p.service_principal_name or p.group_name
    return None


def check_run_as(principal: Principal, settings: dict[str, Any]) -> None:
    """Only admins may make a job run as someone else."""
    run_as = settings.get("run_as") or {}
    target = run_as.get("user_name") or run_as.get("service_principal_name") or run_as.get("group_name")
    if target and target != principal.name and not principal.is_admin:
        raise denied(f"{principal.name} cannot set run_as to {target!r}: only admins may run jobs as "
                     f"another principal")
