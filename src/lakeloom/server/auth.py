"""Bearer-token authentication and job permissions.

Every API call needs ``Authorization: Bearer <token>`` with a token made by
``lakeloom tokens create`` (stored hashed). Job permissions follow the Jobs API levels,
lowest first: CAN_VIEW < CAN_MANAGE_RUN < CAN_MANAGE < IS_OWNER. A principal's level on
a job is the highest of: IS_OWNER for the job's creator, the job's ``permissions``
entries naming the principal or a group it belongs to (``server.groups: {group:
[members]}``; every principal is in ``users``), and IS_OWNER for admin tokens and members
of ``admins``. Creating jobs and submitting runs need workspace entitlements
(:mod:`lakeloom.spec.permissions`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from lakeloom.server.errors import denied, unauthenticated
from lakeloom.spec.permissions import LEVELS, groups_of, holds_entitlement, level_on_job, owner_of

if TYPE_CHECKING:
    from lakeloom.spec.models import Job

__all__ = ["LEVELS", "Principal", "authenticate", "check_run_as", "job_level", "owner_of", "require",
           "require_entitlement"]


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
    principal = Principal(row["principal"], bool(row["is_admin"]), groups_of(row["principal"], ctx.groups))
    request.state.principal = principal  # the audit middleware names the caller
    return principal


def job_level(principal: Principal, job: Job, creator: str | None) -> int:
    """The principal's permission level on a job (0: none)."""
    return level_on_job(principal.name, principal.groups, principal.is_admin, job, creator)


def require(principal: Principal, job: Job, creator: str | None, level: str, what: str, *,
            job_id: int | None = None) -> None:
    """Raise 403 unless the principal holds ``level`` (or higher) on the job.

    A principal who cannot even view the job learns its id, not its name.
    """
    have = job_level(principal, job, creator)
    if have < LEVELS[level]:
        label = f"job {job.name!r}" if have >= LEVELS["CAN_VIEW"] or job_id is None else f"job {job_id}"
        raise denied(f"{principal.name} does not have {level} permission on {label} ({what})")


def require_entitlement(principal: Principal, granted: dict[str, frozenset[str]], entitlement: str,
                        what: str) -> None:
    """Raise 403 unless the principal holds the workspace entitlement (admins always do)."""
    if not holds_entitlement(principal.name, principal.groups, principal.is_admin, granted, entitlement):
        raise denied(f"{principal.name} does not have the {entitlement} entitlement ({what}); a workspace admin "
                     f"grants it to a group under server.entitlements in conf/lakeloom.yml")


def check_run_as(principal: Principal, settings: dict[str, Any]) -> None:
    """Only admins may make a job run as someone else."""
    run_as = settings.get("run_as") or {}
    target = run_as.get("user_name") or run_as.get("service_principal_name") or run_as.get("group_name")
    if target and target != principal.name and not principal.is_admin:
        raise denied(f"{principal.name} cannot set run_as to {target!r}: only admins may run jobs as "
                     f"another principal")
