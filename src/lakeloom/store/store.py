"""The run store: jobs and runs; the plumbing every store write and read goes through.

SQLite (WAL, ``synchronous=NORMAL``: a committed row survives a killed process) by
default, any SQLAlchemy URL (PostgreSQL) otherwise. Every write is its own short
transaction, so a crash never loses what was already recorded. Reads return typed
records (:mod:`lakeloom.store.records`); task attempts, values, repairs and events live
in :mod:`lakeloom.store.attempts`, the server's and dashboard's queries in ``control``
and ``ui``.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from lakeloom.store import schema as s
from lakeloom.store.attempts import TASK_RUN_ID_STRIDE, AttemptStoreMixin
from lakeloom.store.control import ControlStoreMixin
from lakeloom.store.records import RunRecord, StoredJob
from lakeloom.store.ui import UiStoreMixin
from lakeloom.processes import pid_alive

__all__ = ["ACTIVE_STATES", "TASK_RUN_ID_STRIDE", "RunStore", "now_ms", "open_store", "process_alive"]

ACTIVE_STATES = ("QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY")


def now_ms() -> int:
    return int(time.time() * 1000)


def _process_marker(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), so a reused pid is not mistaken for ours."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int, marker: str | None) -> bool:
    if not pid_alive(pid):
        return False
    current = _process_marker(pid)
    return marker is None or current is None or current == marker


class RunStore(AttemptStoreMixin, ControlStoreMixin, UiStoreMixin):
    """Thread-safe access to the store. Writes are serialised by one lock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._conn: Connection | None = None
        self._sqlite = url.startswith("sqlite")
        self._compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}
        self._task_run_seq: dict[int, int] = {}
        self._migrate()
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.marker = _process_marker(self.pid)

    # --- plumbing -------------------------------------------------------------

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    # A failed statement must end its transaction: on PostgreSQL the shared connection otherwise
    # stays "aborted" (or, after a lost connection, pending rollback) and every later call fails.
    # A statement that fails because the connection was lost (server restart, idle kill) is run
    # once more on a new connection: it never committed, so running it again is safe. A failed
    # COMMIT is not retried (whether it took effect is unknown).

    def _write(self, stmt: Any, params: Any = None) -> Any:
        with self._lock:
            for retry in (True, False):
                conn = self._connection()
                try:
                    result = conn.execute(stmt, params) if params is not None else conn.execute(stmt)
                except DBAPIError as e:
                    conn.rollback()
                    if retry and e.connection_invalidated:
                        continue
                    raise
                except Exception:
                    conn.rollback()
                    raise
                try:
                    conn.commit()
                except Exception:
                    conn.rollback()
                    raise
                return result
            raise AssertionError("unreachable")

    def _read(self, stmt: Any) -> list[Any]:
        with self._lock:
            for retry in (True, False):
                conn = self._connection()
                try:
                    rows = conn.execute(stmt).mappings().all()
                    conn.commit()  # end the read transaction so other processes' writes become visible
                    return list(rows)
                except DBAPIError as e:
                    conn.rollback()
                    if retry and e.connection_invalidated:
                        continue
                    raise
                except Exception:
                    conn.rollback()
                    raise
            raise AssertionError("unreachable")

    def _migrate(self) -> None:
        from lakeloom.store.migrations import migrate

        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # table rebuilds (SQLite's ALTER TABLE procedure) need it off, outside a transaction
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            with conn.begin():
                migrate(conn)
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self.engine.dispose()

    # --- jobs -------------------------------------------------------------------

    def upsert_job(self, name: str, settings: dict[str, Any], source: str | None, job_key: str | None = None,
                   *, deployed: bool = False, creator: str | None = None) -> int:
        """The job's id, creating or updating the row for (name, source)."""
        payload = json.dumps(settings, sort_keys=True)
        with self._lock:
            rows = self._read(select(s.jobs.c.job_id, s.jobs.c.settings_json).where(
                and_(s.jobs.c.name == name, s.jobs.c.source.is_(None) if source is None else s.jobs.c.source == source)))
            t = now_ms()
            if rows:
                job_id = rows[0]["job_id"]
                if rows[0]["settings_json"] != payload or deployed:
                    values: dict[str, Any] = {"settings_json": payload, "updated_time": t, "job_key": job_key}
                    if deployed:
                        values["deployed"] = True
                    self._write(update(s.jobs).where(s.jobs.c.job_id == job_id).values(**values))
                return int(job_id)
            res = self._write(insert(s.jobs).values(
                name=name, source=source, job_key=job_key, settings_json=payload, created_time=t,
                updated_time=t, deployed=deployed, creator=creator))
            return int(res.inserted_primary_key[0])

    def get_job(self, job_id: int) -> StoredJob | None:
        rows = self._read(select(s.jobs).where(s.jobs.c.job_id == job_id))
        return StoredJob.from_row(rows[0]) if rows else None

    def find_jobs(self, name: str) -> list[StoredJob]:
        """Jobs named ``name``, oldest first."""
        return [StoredJob.from_row(r) for r in self._read(select(s.jobs).where(s.jobs.c.name == name)
                                                          .order_by(s.jobs.c.job_id))]

    def list_jobs(self) -> list[StoredJob]:
        return [StoredJob.from_row(r) for r in self._read(select(s.jobs).order_by(s.jobs.c.job_id))]

    # --- runs -------------------------------------------------------------------

    def create_run(self, *, job_id: int, run_name: str, settings: dict[str, Any], job_parameters: dict[str, str],
                   trigger_type: str = "ONE_TIME", trigger_info: dict[str, Any] | None = None,
                   run_type: str = "JOB_RUN", parent_run_id: int | None = None,
                   parent_task_run_id: int | None = None, only: list[str] | None = None,
                   base_dir: str | None = None, run_as: str | None = None, creator: str | None = None,
                   life_cycle_state: str = "PENDING", start_time: int | None = None) -> int:
        """Record a new run; returns its id. ``start_time`` defaults to now (epoch ms)."""
        res = self._write(insert(s.runs).values(
            job_id=job_id, run_name=run_name, run_type=run_type, trigger_type=trigger_type,
            trigger_info_json=json.dumps(trigger_info) if trigger_info else None,
            parent_run_id=parent_run_id, parent_task_run_id=parent_task_run_id,
            job_parameters_json=json.dumps(job_parameters), only_json=json.dumps(only) if only else None,
            settings_json=json.dumps(settings), base_dir=base_dir, life_cycle_state=life_cycle_state,
            state_message="", start_time=now_ms() if start_time is None else start_time, owner_pid=self.pid,
            owner_host=self.host, owner_started=self.marker, run_as=run_as, creator=creator))
        return int(res.inserted_primary_key[0])

    def update_run(self, run_id: int, **values: Any) -> None:
        """Set plain columns of a run (states, times, messages); JSON columns have their own methods."""
        self._write(update(s.runs).where(s.runs.c.run_id == run_id).values(**values))

    def mark_run_started(self, run_id: int, *, settings: dict[str, Any], base_dir: str, start_time: int) -> None:
        """A recorded (PENDING) run starts now in this process, with these settings."""
        self.update_run(run_id, life_cycle_state="RUNNING", start_time=start_time, settings_json=json.dumps(settings),
                        base_dir=base_dir, **self._owner())

    def reopen_for_repair(self, run_id: int, *, repair_count: int, job_parameters: dict[str, str]) -> None:
        """A finished run runs again (a repair) in this process, with these parameters."""
        self.update_run(run_id, life_cycle_state="RUNNING", result_state=None, end_time=None,
                        repair_count=repair_count, cancel_requested=False,
                        job_parameters_json=json.dumps(job_parameters), termination_code=None,
                        termination_type=None, state_message="", **self._owner())

    def claim_run(self, run_id: int) -> None:
        """Record this process as the one driving ``run_id`` (for orphan detection)."""
        self.update_run(run_id, **self._owner())

    def _owner(self) -> dict[str, Any]:
        return {"owner_pid": self.pid, "owner_host": self.host, "owner_started": self.marker}

    def get_run(self, run_id: int) -> RunRecord | None:
        rows = self._read(select(s.runs).where(s.runs.c.run_id == run_id))
        return RunRecord.from_row(rows[0]) if rows else None

    def list_runs(self, *, job_id: int | None = None, active_only: bool = False, completed_only: bool = False,
                  limit: int = 25, offset: int = 0, parent_run_id: int | None = None,
                  include_children: bool = True) -> list[RunRecord]:
        q = select(s.runs)
        if job_id is not None:
            q = q.where(s.runs.c.job_id == job_id)
        if active_only:
            q = q.where(s.runs.c.life_cycle_state.in_(ACTIVE_STATES))
        if completed_only:
            q = q.where(s.runs.c.life_cycle_state.notin_(ACTIVE_STATES))
        if parent_run_id is not None:
            q = q.where(s.runs.c.parent_run_id == parent_run_id)
        elif not include_children:
            q = q.where(s.runs.c.parent_run_id.is_(None))
        q = q.order_by(s.runs.c.start_time.desc(), s.runs.c.run_id.desc()).limit(limit).offset(offset)
        return [RunRecord.from_row(r) for r in self._read(q)]

    def request_cancel(self, run_id: int) -> None:
        self.update_run(run_id, cancel_requested=True)

    def cancel_requested(self, run_id: int) -> bool:
        rows = self._read(select(s.runs.c.cancel_requested).where(s.runs.c.run_id == run_id))
        return bool(rows and rows[0]["cancel_requested"])

    def count_runs(self) -> int:
        return int(self._read(select(func.count().label("n")).select_from(s.runs))[0]["n"])

    # --- recovery ------------------------------------------------------------------

    def reap_orphans(self) -> list[int]:
        """Mark runs whose driving process is gone FAILED (DRIVER_ERROR); return their ids.

        A liveness check of the recorded process on this host, never a timeout, so a
        long run is never reaped while its process lives.
        """
        rows = self._read(select(s.runs).where(and_(
            s.runs.c.life_cycle_state.in_(("PENDING", "RUNNING", "TERMINATING", "WAITING_FOR_RETRY")),
            s.runs.c.owner_host == self.host)))
        return self._mark_orphaned([r for r in rows if r["owner_pid"] is not None
                                    and not process_alive(r["owner_pid"], r["owner_started"])])

    def beat(self) -> None:
        """Record that this process is alive (``serve`` calls it every few seconds)."""
        t = now_ms()
        key = and_(s.process_heartbeats.c.host == self.host, s.process_heartbeats.c.pid == self.pid,
                   s.process_heartbeats.c.started == (self.marker or ""))
        with self._lock:
            if self._write(update(s.process_heartbeats).where(key).values(last_beat=t)).rowcount == 0:
                self._write(insert(s.process_heartbeats).values(
                    host=self.host, pid=self.pid, started=self.marker or "", last_beat=t))

    def reap_silent_owners(self, stale_ms: int) -> list[int]:
        """Mark FAILED (DRIVER_ERROR) the active runs of processes, on any host, whose last
        heartbeat is older than ``stale_ms``; forget those heartbeats. Runs of processes
        that never beat (``lakeloom run``) are left to :meth:`reap_orphans` on their host."""
        hb = s.process_heartbeats
        dead = self._read(select(hb).where(hb.c.last_beat < now_ms() - stale_ms))
        reaped: list[int] = []
        for d in dead:
            if d["host"] == self.host and d["pid"] == self.pid:
                continue
            rows = self._read(select(s.runs).where(and_(
                s.runs.c.life_cycle_state.in_(("PENDING", "RUNNING", "TERMINATING", "WAITING_FOR_RETRY")),
                s.runs.c.owner_host == d["host"], s.runs.c.owner_pid == d["pid"])))
            reaped += self._mark_orphaned(
                [r for r in rows if (r["owner_started"] or "") == d["started"]], silent_for_ms=stale_ms)
            self._write(delete(hb).where(and_(hb.c.host == d["host"], hb.c.pid == d["pid"],
                                              hb.c.started == d["started"])))
        return reaped

    def _mark_orphaned(self, rows: list[Any], silent_for_ms: int | None = None) -> list[int]:
        reaped = []
        for r in rows:
            t = now_ms()
            msg = f"the lakeloom process driving this run (pid {r['owner_pid']}) died" if silent_for_ms is None \
                else (f"the lakeloom process driving this run (pid {r['owner_pid']} on {r['owner_host']}) "
                      f"sent no heartbeat for {silent_for_ms / 1000:g}s")
            with self._lock:
                self._write(update(s.task_runs).where(and_(
                    s.task_runs.c.run_id == r["run_id"], s.task_runs.c.end_time.is_(None))).values(
                    life_cycle_state="INTERNAL_ERROR", result_state="FAILED", end_time=t,
                    termination_code="DRIVER_ERROR", state_message=msg))
                self._write(update(s.repairs).where(and_(
                    s.repairs.c.run_id == r["run_id"], s.repairs.c.end_time.is_(None))).values(
                    end_time=t, life_cycle_state="TERMINATED", result_state="FAILED"))
                self._write(update(s.runs).where(s.runs.c.run_id == r["run_id"]).values(
                    life_cycle_state="INTERNAL_ERROR", result_state="FAILED", end_time=t, state_message=msg,
                    termination_code="DRIVER_ERROR", termination_type="INTERNAL_ERROR"))
            self.add_event(r["run_id"], "run_orphaned", msg)
            reaped.append(int(r["run_id"]))
        return reaped


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_stores: dict[str, RunStore] = {}
_stores_lock = threading.Lock()


def open_store(url: str) -> RunStore:
    """One RunStore per URL per process."""
    with _stores_lock:
        if url not in _stores:
            _stores[url] = RunStore(url)
        return _stores[url]
