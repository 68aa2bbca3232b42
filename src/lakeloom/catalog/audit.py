"""Audit events as JSON lines, read back as ``system.access.audit``.

Every event is one JSON object on one line, with the columns of Databricks' audit system table::

    {"account_id": "lakeloom", "workspace_id": "123", "version": "2.0",
     "event_time": "2026-01-31T10:00:00.123Z", "event_date": "2026-01-31",
     "source_ip_address": "127.0.0.1", "user_agent": "databricks-sdk-py/...", "session_id": null,
     "user_identity": {"email": "alice", "subject_name": null},
     "service_name": "jobs", "action_name": "runNow", "request_id": "<uuid>",
     "request_params": {"job_id": "7"},
     "response": {"status_code": 200, "error_message": null, "result": "{\\"run_id\\": 9}"},
     "audit_level": "WORKSPACE_LEVEL", "event_id": "<uuid>",
     "identity_metadata": {"run_by": "alice", "run_as": "alice"}}

Files live under ``<workspace.catalog_dir>/.audit/`` (the ``system`` catalog reads every
``*.jsonl`` below it); this writer uses ``<day>/<host>-<pid>.jsonl``, one file per process and
day, each line written with a single ``O_APPEND`` write so concurrent writers never interleave.
The JVM (authorization decisions, grant changes) writes the same format. ``event_time`` may also
be epoch milliseconds.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.system_conf import audit_dir

if TYPE_CHECKING:
    from lakeloom.config import Workspace

_lock = threading.Lock()
_host = socket.gethostname()


def audit_record(*, workspace_id: int | str, service_name: str, action_name: str, user: str | None,
                 request_params: dict[str, Any] | None = None, status_code: int = 200,
                 error_message: str | None = None, result: str | None = None, source_ip: str | None = None,
                 user_agent: str | None = None, run_as: str | None = None, session_id: str | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """One audit event in ``system.access.audit``'s columns (request parameter values become strings)."""
    at = now or datetime.now(timezone.utc)
    return {
        "account_id": "lakeloom", "workspace_id": str(workspace_id), "version": "2.0",
        "event_time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event_date": at.date().isoformat(),
        "source_ip_address": source_ip, "user_agent": user_agent, "session_id": session_id,
        "user_identity": {"email": user, "subject_name": None},
        "service_name": service_name, "action_name": action_name, "request_id": str(uuid.uuid4()),
        "request_params": {str(k): v if isinstance(v, str) else json.dumps(v)
                           for k, v in (request_params or {}).items() if v is not None},
        "response": {"status_code": status_code, "error_message": error_message, "result": result},
        "audit_level": "WORKSPACE_LEVEL", "event_id": str(uuid.uuid4()),
        "identity_metadata": {"run_by": user, "run_as": run_as or user},
    }


def append_audit_record(folder: Path, record: dict[str, Any]) -> Path:
    """Append ``record`` to this process's file of the day under ``folder``; returns the file."""
    day = str(record.get("event_date") or datetime.now(timezone.utc).date().isoformat())
    path = folder / day / f"{_host}-{os.getpid()}.jsonl"
    line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    return path


def write_audit_event(workspace: Workspace, *, service_name: str, action_name: str, user: str | None,
                      **fields: Any) -> dict[str, Any]:
    """Record one audit event of ``workspace`` (see :func:`audit_record` for the fields).

    Never raises for an unwritable folder: auditing must not turn a successful action into a
    failed one; the failure is logged instead.
    """
    record = audit_record(workspace_id=workspace.workspace_id, service_name=service_name, action_name=action_name,
                          user=user, **fields)
    try:
        append_audit_record(audit_dir(workspace), record)
    except OSError as e:
        import logging

        logging.getLogger(__name__).error("could not write the audit event %s: %s", action_name, e)
    return record


def read_audit_events(workspace: Workspace) -> list[dict[str, Any]]:
    """Every audit event of ``workspace`` (any writer), oldest first; unreadable lines are skipped
    (a line another process is still writing)."""
    events: list[dict[str, Any]] = []
    root = audit_dir(workspace)
    for path in sorted(root.rglob("*.jsonl")) if root.is_dir() else []:
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return sorted(events, key=lambda e: str(e.get("event_time") or ""))


def log(workspace: Workspace, action: str, user: str | None, params: dict[str, Any], status: int,
        error: str | None = None, *, run_as: str | None = None, service: str = "unityCatalog") -> None:
    """Shorthand for governance decisions: :func:`write_audit_event` of ``service`` (Unity Catalog)."""
    write_audit_event(workspace, service_name=service, action_name=action, user=user, request_params=params,
                      status_code=status, error_message=error, run_as=run_as)


read_events = read_audit_events


def cli_event(workspace: Workspace, action_name: str, params: dict[str, Any], *, status_code: int = 200,
              result: str | None = None, error_message: str | None = None) -> None:
    """A job action taken with the ``lakeloom`` CLI, as the OS user (``service_name`` jobs)."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    write_audit_event(workspace, service_name="jobs", action_name=action_name, user=user, request_params=params,
                      status_code=status_code, result=result, error_message=error_message,
                      user_agent="lakeloom-cli")
