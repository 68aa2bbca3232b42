"""Job permission levels and workspace entitlements, shared by the server and the engine.

Job levels follow the Jobs API, lowest first: CAN_VIEW < CAN_MANAGE_RUN < CAN_MANAGE <
IS_OWNER. A principal's level on a job is the highest of: IS_OWNER for the job's creator
and for admins, and the job's ``permissions`` entries naming the principal or one of its
groups (``server.groups: {group: [members]}`` in ``conf/lakeloom.yml``; every principal is
in ``users``, members of ``admins`` are admins).

Entitlements are workspace-wide rights, as Databricks' ``allow-cluster-create``:
``jobs.create`` (create a job or change its tasks) and ``runs.submit`` (one-time runs of
arbitrary code). ``server.entitlements: {jobs.create: [groups or principals], ...}``
grants them; admins always hold them. They are denied by default: without that setting
only admins may author code, and everyone else may only run the jobs they are permitted to.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakeloom.spec.models import Job

LEVELS = {"CAN_VIEW": 1, "CAN_MANAGE_RUN": 2, "CAN_MANAGE": 3, "IS_OWNER": 4}
ENTITLEMENTS = ("jobs.create", "runs.submit")
ADMINS_GROUP = "admins"


def groups_of(name: str, configured: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The groups ``name`` belongs to: ``users`` plus every configured group listing it."""
    return frozenset({"users"} | {str(g) for g, members in configured.items() if name in set(members or [])})


def level_on_job(name: str, groups: frozenset[str], is_admin: bool, job: Job, creator: str | None) -> int:
    """The principal's permission level on a job (0: none)."""
    if is_admin or ADMINS_GROUP in groups or (creator is not None and creator == name):
        return LEVELS["IS_OWNER"]
    best = 0
    for p in job.permissions:
        if name in (p.user_name, p.service_principal_name) or (p.group_name is not None and p.group_name in groups):
            best = max(best, LEVELS[p.level])
    return best


def owner_of(job: Job, creator: str | None) -> str | None:
    """The job's owner: its creator, else the first IS_OWNER entry."""
    if creator:
        return creator
    for p in job.permissions:
        if p.level == "IS_OWNER":
            return p.user_name or p.service_principal_name or p.group_name
    return None


def granted_entitlements(server_conf: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """``server.entitlements`` as {entitlement: groups and principals}; nobody without it.

    Raises ValueError naming the field for an unknown entitlement or a non-list value.
    """
    raw = server_conf.get("entitlements")
    out: dict[str, frozenset[str]] = {e: frozenset() for e in ENTITLEMENTS}
    if raw is None:
        return out  # deny by default: any token could otherwise run code as the server's OS user
    if not isinstance(raw, Mapping):
        raise ValueError("server.entitlements must map an entitlement to a list of groups or principals")
    for key, members in raw.items():
        if key not in ENTITLEMENTS:
            raise ValueError(f"server.entitlements.{key}: unknown entitlement (known: {', '.join(ENTITLEMENTS)})")
        if not isinstance(members, list):
            raise ValueError(f"server.entitlements.{key} must be a list of groups or principals")
        out[key] = frozenset(str(m) for m in members)
    return out


def holds_entitlement(name: str, groups: frozenset[str], is_admin: bool, granted: Mapping[str, frozenset[str]],
                      entitlement: str) -> bool:
    """Whether the principal holds ``entitlement`` (admins always do)."""
    if is_admin or ADMINS_GROUP in groups:
        return True
    members = granted.get(entitlement, frozenset())
    return name in members or bool(groups & members)
