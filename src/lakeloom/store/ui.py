"""Store access for the monitoring dashboard: sign-in sessions and the run queries its
pages need (filtered keyset pages, each job's latest runs, child runs, task attempts).

Mixed into :class:`lakeloom.store.store.RunStore`. Sessions are stored hashed, like API
tokens, and each one is tied to the API token it was opened with: revoking or expiring
that token ends the session at once.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select

from lakeloom.store import schema as s

ACTIVE = ("QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class RunFilter:
    """The runs page's filters. ``state`` is ``ACTIVE`` or a result state (``SUCCESS``,
    ``FAILED``, ...); times are epoch milliseconds, inclusive."""

    job_ids: tuple[int, ...] | None = None
    state: str | None = None
    trigger_type: str | None = None
    start_from: int | None = None
    start_to: int | None = None


class UiStoreMixin:
    """Methods of the run store used by the dashboard."""

    def _write(self, stmt: Any, params: Any = None) -> Any:  # pragma: no cover - RunStore implements
        raise NotImplementedError

    def _read(self, stmt: Any) -> list[Any]:  # pragma: no cover - RunStore implements
        raise NotImplementedError

    # --- sessions ---------------------------------------------------------------------

    def create_session(self, token_id: str, *, lifetime_seconds: int, token_expiry: int | None) -> tuple[str, str]:
        """A new session for an API token: returns (cookie value, CSRF token). The session
        ends at ``lifetime_seconds`` or the token's own expiry, whichever is first."""
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        t = _now_ms()
        expiry = t + lifetime_seconds * 1000
        if token_expiry is not None:
            expiry = min(expiry, token_expiry)
        self._write(delete(s.ui_sessions).where(s.ui_sessions.c.expiry_time < t))
        self._write(insert(s.ui_sessions).values(session_hash=_hash(cookie), token_id=token_id, csrf_token=csrf,
                                                 created_time=t, expiry_time=expiry))
        return cookie, csrf

    def lookup_session(self, cookie: str) -> dict[str, Any] | None:
        """The live session for a cookie value joined with its token (principal, is_admin), or None."""
        t = _now_ms()
        tok = s.api_tokens
        q = (select(s.ui_sessions.c.csrf_token, s.ui_sessions.c.expiry_time, tok.c.token_id, tok.c.principal,
                    tok.c.is_admin, tok.c.revoked_time, tok.c.expiry_time.label("token_expiry"))
             .join(tok, tok.c.token_id == s.ui_sessions.c.token_id)
             .where(s.ui_sessions.c.session_hash == _hash(cookie)))
        rows = self._read(q)
        if not rows:
            return None
        row = dict(rows[0])
        if row["expiry_time"] <= t or row["revoked_time"] is not None or (
                row["token_expiry"] is not None and row["token_expiry"] <= t):
            return None
        return row

    def delete_session(self, cookie: str) -> None:
        self._write(delete(s.ui_sessions).where(s.ui_sessions.c.session_hash == _hash(cookie)))

    # --- runs -------------------------------------------------------------------------

    def runs_filtered(self, f: RunFilter, *, limit: int, after: tuple[int, int] | None = None,
                      before: tuple[int, int] | None = None) -> list[dict[str, Any]]:
        """One page of runs, newest first. ``after`` / ``before`` are the (start_time, run_id)
        of the previous page's last / the next page's first run (keyset paging: a page deep in
        the history costs what the first one does)."""
        r = s.runs
        cols = [r.c.run_id, r.c.job_id, r.c.run_name, r.c.run_type, r.c.trigger_type, r.c.parent_run_id,
                r.c.life_cycle_state, r.c.result_state, r.c.state_message, r.c.start_time, r.c.end_time,
                r.c.repair_count, r.c.run_as]
        q = select(*cols)
        if f.job_ids is not None:
            q = q.where(r.c.job_id == f.job_ids[0]) if len(f.job_ids) == 1 else q.where(r.c.job_id.in_(f.job_ids))
        if f.state == "ACTIVE":
            q = q.where(r.c.life_cycle_state.in_(ACTIVE))
        elif f.state:
            q = q.where(r.c.result_state == f.state)
        if f.trigger_type:
            q = q.where(r.c.trigger_type == f.trigger_type)
        if f.start_from is not None:
            q = q.where(r.c.start_time >= f.start_from)
        if f.start_to is not None:
            q = q.where(r.c.start_time <= f.start_to)
        if before is not None:
            q = q.where(or_(r.c.start_time > before[0], and_(r.c.start_time == before[0], r.c.run_id > before[1])))
            q = q.order_by(r.c.start_time.asc(), r.c.run_id.asc()).limit(limit)
            return [dict(row) for row in reversed(self._read(q))]
        if after is not None:
            q = q.where(or_(r.c.start_time < after[0], and_(r.c.start_time == after[0], r.c.run_id < after[1])))
        q = q.order_by(r.c.start_time.desc(), r.c.run_id.desc()).limit(limit)
        return [dict(row) for row in self._read(q)]

    def recent_runs(self, job_id: int, limit: int = 20) -> list[dict[str, Any]]:
        """The job's latest top-level runs, newest first (state and times only)."""
        r = s.runs
        q = (select(r.c.run_id, r.c.life_cycle_state, r.c.result_state, r.c.start_time, r.c.end_time,
                    r.c.trigger_type, r.c.state_message)
             .where(and_(r.c.job_id == job_id, r.c.parent_run_id.is_(None)))
             .order_by(r.c.start_time.desc(), r.c.run_id.desc()).limit(limit))
        return [dict(row) for row in self._read(q)]

    def child_runs(self, run_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """Runs started by a task of ``run_id`` (run_job tasks, notebook workflows)."""
        r = s.runs
        q = (select(r.c.run_id, r.c.job_id, r.c.run_name, r.c.life_cycle_state, r.c.result_state, r.c.start_time,
                    r.c.end_time, r.c.parent_task_run_id)
             .where(r.c.parent_run_id == run_id).order_by(r.c.run_id).limit(limit))
        return [dict(row) for row in self._read(q)]

    def job_names(self) -> dict[int, str]:
        """Every job's name by id (deployed or not: one-time runs have jobs too)."""
        return {int(row["job_id"]): row["name"] for row in self._read(select(s.jobs.c.job_id, s.jobs.c.name))}

    def any_active_run(self, run_ids: list[int]) -> bool:
        if not run_ids:
            return False
        q = select(s.runs.c.run_id).where(and_(s.runs.c.run_id.in_(run_ids),
                                               s.runs.c.life_cycle_state.in_(ACTIVE))).limit(1)
        return bool(self._read(q))
