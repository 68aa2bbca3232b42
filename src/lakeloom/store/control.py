"""Store access for ``lakeloom serve``: tick claims, trigger state, pause controls,
API tokens, notification deliveries, queued runs and job deletion.

Mixed into :class:`lakeloom.store.store.RunStore`; every write is its own short
transaction. The two primitives that keep several ``serve`` processes on one store
from doing the same thing twice are :meth:`claim_tick` (a UNIQUE key) and
:meth:`cas_trigger_state` / :meth:`claim_queued_run` (compare-and-set updates).
"""
from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lakeloom.store import schema as s
from lakeloom.store.records import RunRecord, StoredJob


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def hash_token(token: str) -> str:
    """The stored form of an API token (tokens are 256-bit random, so plain SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


class ControlStoreMixin:
    """Methods of the run store used by the scheduler, the server and notifications."""

    # Provided by RunStore.
    _lock: Any
    host: str
    pid: int

    def _write(self, stmt: Any, params: Any = None) -> Any:  # pragma: no cover - RunStore implements
        raise NotImplementedError

    def _read(self, stmt: Any) -> list[Any]:  # pragma: no cover - RunStore implements
        raise NotImplementedError

    @property
    def owner_name(self) -> str:
        return f"{self.host}:{self.pid}"

    # --- schedule ticks ---------------------------------------------------------------

    def claim_tick(self, job_id: int, scheduled_time_ms: int, kind: str) -> bool:
        """Claim the tick (job, scheduled time); True for exactly one claimant across processes."""
        try:
            self._write(insert(s.schedule_ticks).values(
                job_id=job_id, scheduled_time=scheduled_time_ms, kind=kind, claimed_time=_now_ms(),
                owner=self.owner_name))
            return True
        except IntegrityError:
            return False

    def set_tick_run(self, job_id: int, scheduled_time_ms: int, run_id: int) -> None:
        self._write(update(s.schedule_ticks).where(and_(
            s.schedule_ticks.c.job_id == job_id, s.schedule_ticks.c.scheduled_time == scheduled_time_ms)).values(
            run_id=run_id))

    def ticks(self, job_id: int) -> list[dict[str, Any]]:
        q = select(s.schedule_ticks).where(s.schedule_ticks.c.job_id == job_id).order_by(
            s.schedule_ticks.c.scheduled_time)
        return [dict(r) for r in self._read(q)]

    def last_tick(self, job_id: int) -> int | None:
        rows = self._read(select(func.max(s.schedule_ticks.c.scheduled_time).label("t")).where(
            s.schedule_ticks.c.job_id == job_id))
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    # --- trigger state ------------------------------------------------------------------

    def trigger_state(self, job_id: int, kind: str) -> tuple[int, dict[str, Any] | None]:
        """(version, state) of a job's trigger; version 0 and None when never written."""
        rows = self._read(select(s.trigger_state).where(and_(
            s.trigger_state.c.job_id == job_id, s.trigger_state.c.kind == kind)))
        if not rows:
            return 0, None
        return int(rows[0]["version"]), json.loads(rows[0]["state_json"])

    def cas_trigger_state(self, job_id: int, kind: str, expected_version: int, state: dict[str, Any]) -> bool:
        """Write ``state`` if the stored version is still ``expected_version``; True when written."""
        payload = json.dumps(state, sort_keys=True, default=str)
        t = _now_ms()
        with self._lock:
            if expected_version == 0:
                try:
                    self._write(insert(s.trigger_state).values(job_id=job_id, kind=kind, version=1,
                                                               state_json=payload, updated_time=t))
                    return True
                except IntegrityError:
                    return False
            res = self._write(update(s.trigger_state).where(and_(
                s.trigger_state.c.job_id == job_id, s.trigger_state.c.kind == kind,
                s.trigger_state.c.version == expected_version)).values(
                version=expected_version + 1, state_json=payload, updated_time=t))
            return bool(res.rowcount == 1)

    # --- pause controls -------------------------------------------------------------------

    def set_pause(self, job_id: int, pause_status: str | None, by: str | None = None) -> None:
        """Override the pause status of a job's schedule/trigger/continuous (None clears it)."""
        with self._lock:
            res = self._write(update(s.job_controls).where(s.job_controls.c.job_id == job_id).values(
                pause_status=pause_status, updated_time=_now_ms(), updated_by=by))
            if res.rowcount == 0:
                self._write(insert(s.job_controls).values(job_id=job_id, pause_status=pause_status,
                                                          updated_time=_now_ms(), updated_by=by))

    def pause_overrides(self) -> dict[int, str]:
        rows = self._read(select(s.job_controls).where(s.job_controls.c.pause_status.is_not(None)))
        return {int(r["job_id"]): r["pause_status"] for r in rows}

    def jobs_fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever a job or a pause control changes (cheap; polled by the scheduler)."""
        j = self._read(select(func.count().label("n"), func.max(s.jobs.c.updated_time).label("t"),
                              func.sum(s.jobs.c.job_id).label("ids")).select_from(s.jobs))[0]
        c = self._read(select(func.count().label("n"), func.max(s.job_controls.c.updated_time).label("t"))
                       .select_from(s.job_controls))[0]
        return (j["n"], j["t"], j["ids"], c["n"], c["t"])

    def deployed_jobs(self) -> list[StoredJob]:
        return [StoredJob.from_row(r) for r in self._read(select(s.jobs).where(s.jobs.c.deployed.is_(True))
                                                          .order_by(s.jobs.c.job_id))]

    def update_job(self, job_id: int, *, name: str | None = None, settings: dict[str, Any] | None = None,
                   deployed: bool | None = None) -> None:
        """Change a job's name, settings or deployed flag (what is not given stays)."""
        values: dict[str, Any] = {"updated_time": _now_ms()}
        if name is not None:
            values["name"] = name
        if settings is not None:
            values["settings_json"] = json.dumps(settings, sort_keys=True)
        if deployed is not None:
            values["deployed"] = deployed
        self._write(update(s.jobs).where(s.jobs.c.job_id == job_id).values(**values))

    def create_job(self, name: str, settings: dict[str, Any], *, creator: str | None,
                   source: str | None = None, job_key: str | None = None, deployed: bool = True) -> StoredJob:
        """A new job (API-created jobs: no source, always a new id). ``deployed=False`` keeps it
        out of the scheduler and ``jobs/list`` (one-time ``runs/submit`` runs)."""
        t = _now_ms()
        payload = json.dumps(settings, sort_keys=True)
        res = self._write(insert(s.jobs).values(
            name=name, source=source, job_key=job_key, settings_json=payload, created_time=t, updated_time=t,
            deployed=deployed, creator=creator))
        return StoredJob(job_id=int(res.inserted_primary_key[0]), name=name, source=source, job_key=job_key,
                         settings=json.loads(payload), created_time=t, updated_time=t, creator=creator,
                         deployed=deployed)

    def delete_job(self, job_id: int) -> None:
        """Delete a job with its runs and everything recorded about them."""
        with self._lock:
            run_ids = [r["run_id"] for r in self._read(select(s.runs.c.run_id).where(s.runs.c.job_id == job_id))]
            self.delete_runs(run_ids)
            for table in (s.schedule_ticks, s.trigger_state, s.job_controls):
                self._write(delete(table).where(table.c.job_id == job_id))
            self._write(delete(s.jobs).where(s.jobs.c.job_id == job_id))

    def delete_runs(self, run_ids: list[int]) -> None:
        """Delete runs and their attempts, values, repairs, events and deliveries."""
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i:i + 500]
            with self._lock:
                for table in (s.task_runs, s.task_values, s.repairs, s.events, s.notification_deliveries):
                    self._write(delete(table).where(table.c.run_id.in_(chunk)))
                self._write(delete(s.runs).where(s.runs.c.run_id.in_(chunk)))

    # --- runs: concurrency and the queue ---------------------------------------------------

    def active_run_count(self, job_id: int) -> int:
        """Runs of the job that hold a concurrency slot (started and not finished; QUEUED excluded)."""
        rows = self._read(select(func.count().label("n")).select_from(s.runs).where(and_(
            s.runs.c.job_id == job_id, s.runs.c.parent_run_id.is_(None),
            s.runs.c.life_cycle_state.in_(("PENDING", "RUNNING", "TERMINATING", "WAITING_FOR_RETRY", "BLOCKED")))))
        return int(rows[0]["n"])

    def queued_runs(self, job_id: int | None = None) -> list[RunRecord]:
        """QUEUED runs (of ``job_id``, or of every job), oldest first."""
        q = select(s.runs).where(s.runs.c.life_cycle_state == "QUEUED")
        if job_id is not None:
            q = q.where(s.runs.c.job_id == job_id)
        return [RunRecord.from_row(r) for r in self._read(q.order_by(s.runs.c.run_id))]

    def claim_queued_run(self, run_id: int) -> bool:
        """Move a QUEUED run to PENDING, owned by this process; True for exactly one claimant."""
        res = self._write(update(s.runs).where(and_(s.runs.c.run_id == run_id,
                                                    s.runs.c.life_cycle_state == "QUEUED")).values(
            life_cycle_state="PENDING", owner_pid=self.pid, owner_host=self.host,
            owner_started=getattr(self, "marker", None)))
        return bool(res.rowcount == 1)

    def list_runs_page(self, *, job_ids: list[int] | None = None, active_only: bool = False,
                       completed_only: bool = False, run_type: str | None = None, start_from: int | None = None,
                       start_to: int | None = None, limit: int = 25, offset: int = 0,
                       after: tuple[int, int] | None = None) -> list[RunRecord]:
        """Runs newest first; ``after`` = (start_time, run_id) of the previous page's last run (keyset
        paging, so deep pages cost the same as the first). ``job_ids`` limits to those jobs."""
        r = s.runs
        q = select(r)
        if job_ids is not None:
            q = q.where(r.c.job_id.in_(job_ids)) if len(job_ids) != 1 else q.where(r.c.job_id == job_ids[0])
        if active_only:
            q = q.where(r.c.life_cycle_state.in_(("QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED",
                                                  "WAITING_FOR_RETRY")))
        if completed_only:
            q = q.where(r.c.life_cycle_state.in_(("TERMINATED", "SKIPPED", "INTERNAL_ERROR")))
        if run_type:
            q = q.where(r.c.run_type == run_type)
        if start_from is not None:
            q = q.where(r.c.start_time >= start_from)
        if start_to is not None:
            q = q.where(r.c.start_time <= start_to)
        if after is not None:
            q = q.where((r.c.start_time < after[0]) | and_(r.c.start_time == after[0], r.c.run_id < after[1]))
        q = q.order_by(r.c.start_time.desc(), r.c.run_id.desc()).limit(limit).offset(offset)
        return [RunRecord.from_row(row) for row in self._read(q)]

    def run_by_idempotency_token(self, job_id: int, token: str) -> int | None:
        rows = self._read(select(s.runs.c.run_id).where(and_(s.runs.c.job_id == job_id,
                                                             s.runs.c.idempotency_token == token)))
        return int(rows[0]["run_id"]) if rows else None

    # --- API tokens -------------------------------------------------------------------------

    def create_token(self, principal: str, *, comment: str = "", lifetime_seconds: int | None = None,
                     is_admin: bool = False) -> tuple[str, str]:
        """A new token for ``principal``: returns (token_id, token). Only the hash is stored."""
        token = "llt_" + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(8)
        t = _now_ms()
        self._write(insert(s.api_tokens).values(
            token_id=token_id, principal=principal, token_hash=hash_token(token), comment=comment,
            is_admin=is_admin, created_time=t, expiry_time=t + lifetime_seconds * 1000 if lifetime_seconds else None))
        return token_id, token

    def lookup_token(self, token: str) -> dict[str, Any] | None:
        """The live (not revoked, not expired) token row for ``token``, or None."""
        rows = self._read(select(s.api_tokens).where(s.api_tokens.c.token_hash == hash_token(token)))
        if not rows:
            return None
        row = dict(rows[0])
        t = _now_ms()
        if row["revoked_time"] is not None or (row["expiry_time"] is not None and row["expiry_time"] <= t):
            return None
        return row

    def touch_token(self, token_id: str) -> None:
        self._write(update(s.api_tokens).where(s.api_tokens.c.token_id == token_id).values(last_used_time=_now_ms()))

    def list_tokens(self) -> list[dict[str, Any]]:
        rows = self._read(select(s.api_tokens).order_by(s.api_tokens.c.created_time))
        return [{k: v for k, v in dict(r).items() if k != "token_hash"} for r in rows]

    def revoke_token(self, token_id: str) -> bool:
        res = self._write(update(s.api_tokens).where(and_(s.api_tokens.c.token_id == token_id,
                                                          s.api_tokens.c.revoked_time.is_(None))).values(
            revoked_time=_now_ms()))
        return bool(res.rowcount == 1)

    # --- notification deliveries -------------------------------------------------------------

    def record_delivery(self, *, run_id: int, event_type: str, notifier: str, destination: str, attempt: int,
                        status: str, task_run_id: int | None = None, task_key: str | None = None,
                        http_status: int | None = None, error: str | None = None) -> None:
        self._write(insert(s.notification_deliveries).values(
            run_id=run_id, task_run_id=task_run_id, task_key=task_key, event_type=event_type, notifier=notifier,
            destination=destination, attempt=attempt, status=status, http_status=http_status,
            error=(error or "")[:2000] or None, time=_now_ms()))

    def deliveries(self, run_id: int) -> list[dict[str, Any]]:
        q = select(s.notification_deliveries).where(s.notification_deliveries.c.run_id == run_id).order_by(
            s.notification_deliveries.c.delivery_id)
        return [dict(r) for r in self._read(q)]
