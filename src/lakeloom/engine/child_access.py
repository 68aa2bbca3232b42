"""Who may start a child run (``run_job_task``), and as whom it runs.

A parent run that runs as a principal may only start jobs that principal could start
itself through ``jobs/run-now``: CAN_MANAGE_RUN on the child job, as the server decides
(:mod:`lakeloom.spec.permissions`). Otherwise a job author could run any job, by id, through
a job of their own.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.identity import configured_groups
from lakeloom.engine.prepare import STORED_PLACEHOLDER
from lakeloom.spec.permissions import LEVELS, groups_of, level_on_job, owner_of

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.spec.loader import LoadedJob
    from lakeloom.store.records import StoredJob
    from lakeloom.store.store import RunStore


def _is_admin(store: RunStore, principal: str) -> bool:
    now = int(time.time() * 1000)
    return any(t["principal"] == principal and t["is_admin"] and t.get("revoked_time") is None
               and (t.get("expiry_time") is None or t["expiry_time"] > now) for t in store.list_tokens())


def stored_job(store: RunStore, target: Any, loaded: LoadedJob) -> StoredJob | None:
    """The stored job the reference resolved to (as ``resolve_job`` chose it); None for a job
    file, whose jobs have no creator."""
    text = str(target)
    if text.isdigit():
        return store.get_job(int(text))
    if loaded.source.name != STORED_PLACEHOLDER:
        return None
    found = store.find_jobs(loaded.job.name)
    return found[-1] if found else None


def authorize_child_run(store: RunStore, workspace: Workspace, principal: str, target: Any,
                        loaded: LoadedJob) -> str:
    """Check ``principal`` holds CAN_MANAGE_RUN on the child job; return whom the child runs as.

    Raises PermissionError naming the job by id (or reference) only: the principal may not
    be allowed to see its name.
    """
    job = loaded.job
    stored = stored_job(store, target, loaded)
    creator = stored.creator if stored else None
    groups = groups_of(principal, configured_groups(workspace))
    level = level_on_job(principal, groups, _is_admin(store, principal), job, creator)
    if level < LEVELS["CAN_MANAGE_RUN"]:
        label = f"job {stored.job_id}" if stored else f"job {str(target)!r}"
        raise PermissionError(f"PERMISSION_DENIED: {principal} does not have CAN_MANAGE_RUN permission on "
                              f"{label} (run_job_task runs as {principal})")
    return (job.run_as.principal if job.run_as else None) or owner_of(job, creator) or principal
