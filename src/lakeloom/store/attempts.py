"""Store access for what happens inside a run: task attempts, task values, repairs and events.

Mixed into :class:`lakeloom.store.store.RunStore`. The per-attempt writes are the
engine's hot path: on SQLite they run as statements compiled once, on the DBAPI
connection (see :meth:`AttemptStoreMixin._fast_write`).
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable

from sqlalchemy import and_, bindparam, delete, func, insert, select, update

from lakeloom.store import schema as s
from lakeloom.store.records import EventRecord, RepairRecord, TaskRunRecord

# Per-attempt writes use constant statements with bound parameters: building a fresh
# ``insert().values(...)`` per call cost more (statement construction and cache-key
# generation, ~0.3 ms each) than the SQLite commit itself.
_INSERT_TASK_RUN = insert(s.task_runs)
_UPDATE_TASK_RUN = update(s.task_runs).where(s.task_runs.c.task_run_id == bindparam("_task_run_id"))

#: Task run ids of run ``r`` are ``r * TASK_RUN_ID_STRIDE + 1, + 2, ...``. Job runs and task
#: runs share one id space in the Jobs API (``runs/get-output`` takes either), so the two
#: must never collide; a fixed range per run costs nothing per attempt.
TASK_RUN_ID_STRIDE = 10**9


def _now_ms() -> int:
    return int(time.time() * 1000)


class AttemptStoreMixin:
    """Methods of the run store for task attempts, task values, repairs and events."""

    # Provided by RunStore.
    _lock: Any
    _sqlite: bool
    _compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]]
    _task_run_seq: dict[int, int]
    engine: Any

    def _write(self, stmt: Any, params: Any = None) -> Any:  # pragma: no cover - RunStore implements
        raise NotImplementedError

    def _read(self, stmt: Any) -> list[Any]:  # pragma: no cover - RunStore implements
        raise NotImplementedError

    def _connection(self) -> Any:  # pragma: no cover - RunStore implements
        raise NotImplementedError

    # --- task runs ----------------------------------------------------------------

    def _fast_write(self, stmt: Any, params: dict[str, Any]) -> int | None:
        """Execute a constant statement on SQLite's DBAPI connection; returns lastrowid.

        The per-attempt inserts and updates are the engine's hot path; SQLAlchemy's
        execute machinery cost several times the SQLite commit. Statements are compiled
        once per set of columns. Other databases use the ordinary SQLAlchemy path.
        """
        if not self._sqlite:
            res = self._write(stmt, params)
            pk = getattr(res, "inserted_primary_key", None) if stmt is _INSERT_TASK_RUN else None
            return int(pk[0]) if pk else None
        key = (id(stmt), tuple(sorted(params)))
        compiled = self._compiled.get(key)
        if compiled is None:
            c = stmt.compile(dialect=self.engine.dialect, column_keys=[k for k in params if not k.startswith("_")])
            compiled = self._compiled[key] = (str(c), tuple(c.positiontup or ()))
        sql, order = compiled
        with self._lock:
            raw = self._connection().connection.dbapi_connection
            try:
                cur = raw.cursor()
                cur.execute(sql, tuple(params[name] for name in order))
                rowid = cur.lastrowid
                raw.commit()
                return rowid
            except Exception:
                raw.rollback()
                raise

    def start_task_run(self, run_id: int, task_key: str, *, attempt_number: int, execution_count: int,
                       repair_id: int | None, life_cycle_state: str = "RUNNING", result_state: str | None = None,
                       state_message: str = "", parent_task_run_id: int | None = None,
                       iteration: int | None = None, end: bool = False, params: dict[str, Any] | None = None,
                       termination_code: str | None = None) -> int:
        t = _now_ms()
        rowid = self._fast_write(_INSERT_TASK_RUN, dict(
            task_run_id=self._next_task_run_id(run_id), run_id=run_id, task_key=task_key, attempt_number=attempt_number, execution_count=execution_count,
            repair_id=repair_id, parent_task_run_id=parent_task_run_id, iteration=iteration,
            life_cycle_state=life_cycle_state, result_state=result_state, state_message=state_message,
            start_time=t, end_time=t if end else None, params_json=json.dumps(params) if params else None,
            termination_code=termination_code))
        assert rowid is not None
        return int(rowid)

    def _next_task_run_id(self, run_id: int) -> int:
        with self._lock:
            last = self._task_run_seq.get(run_id)
            if last is None:
                if len(self._task_run_seq) > 10_000:  # a long-lived serve process: re-read on demand
                    self._task_run_seq.clear()
                rows = self._read(select(func.max(s.task_runs.c.task_run_id).label("m")).where(
                    s.task_runs.c.run_id == run_id))
                last = max(rows[0]["m"] or 0, run_id * TASK_RUN_ID_STRIDE)
            self._task_run_seq[run_id] = last + 1
            return last + 1

    def update_task_run(self, task_run_id: int, **values: Any) -> None:
        """Set columns of a task run (raw column values; :meth:`end_task_run` encodes for you)."""
        self._fast_write(_UPDATE_TASK_RUN, {**values, "_task_run_id": task_run_id})

    def end_task_run(self, task_run_id: int, *, result_state: str, state_message: str,
                     termination_code: str | None, error_type: str | None = None, error_trace: str | None = None,
                     output: dict[str, Any] | None = None, condition_outcome: str | None = None,
                     log_path: str | None = None, params: dict[str, Any] | None = None,
                     child_run_ids: list[int] | None = None) -> None:
        """Record the end of an attempt (TERMINATED with ``result_state``)."""
        self.update_task_run(
            task_run_id, life_cycle_state="TERMINATED", result_state=result_state, end_time=_now_ms(),
            state_message=state_message[:4000], termination_code=termination_code, error_type=error_type,
            error_trace=error_trace, output_json=json.dumps(output, default=str) if output else None,
            condition_outcome=condition_outcome, log_path=log_path,
            params_json=json.dumps(params) if params else None,
            child_run_ids_json=json.dumps(child_run_ids) if child_run_ids else None)

    def task_runs(self, run_id: int) -> list[TaskRunRecord]:
        """Every attempt of the run (for_each iterations included), oldest first."""
        q = select(s.task_runs).where(s.task_runs.c.run_id == run_id).order_by(s.task_runs.c.task_run_id)
        return [TaskRunRecord.from_row(r) for r in self._read(q)]

    def get_task_run(self, task_run_id: int) -> TaskRunRecord | None:
        rows = self._read(select(s.task_runs).where(s.task_runs.c.task_run_id == task_run_id))
        return TaskRunRecord.from_row(rows[0]) if rows else None

    # --- task values ----------------------------------------------------------------

    def set_task_value(self, run_id: int, task_key: str, key: str, value: Any) -> None:
        payload = json.dumps(value)
        with self._lock:
            tv = s.task_values
            where = and_(tv.c.run_id == run_id, tv.c.task_key == task_key, tv.c.key == key)
            res = self._write(update(tv).where(where).values(value_json=payload))
            if res.rowcount == 0:
                self._write(insert(tv).values(run_id=run_id, task_key=task_key, key=key, value_json=payload))

    def task_values(self, run_id: int) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in self._read(select(s.task_values).where(s.task_values.c.run_id == run_id)):
            out.setdefault(r["task_key"], {})[r["key"]] = json.loads(r["value_json"])
        return out

    def clear_task_values(self, run_id: int, task_keys: Iterable[str]) -> None:
        keys = list(task_keys)
        if keys:
            self._write(delete(s.task_values).where(
                and_(s.task_values.c.run_id == run_id, s.task_values.c.task_key.in_(keys))))

    # --- repairs and events -----------------------------------------------------------

    def create_repair(self, run_id: int, rerun_tasks: list[str]) -> int:
        res = self._write(insert(s.repairs).values(run_id=run_id, start_time=_now_ms(), life_cycle_state="RUNNING",
                                                   rerun_tasks_json=json.dumps(rerun_tasks)))
        return int(res.inserted_primary_key[0])

    def finish_repair(self, repair_id: int, result_state: str) -> None:
        self._write(update(s.repairs).where(s.repairs.c.repair_id == repair_id).values(
            end_time=_now_ms(), life_cycle_state="TERMINATED", result_state=result_state))

    def repairs(self, run_id: int) -> list[RepairRecord]:
        """The run's repairs, oldest first."""
        q = select(s.repairs).where(s.repairs.c.run_id == run_id).order_by(s.repairs.c.repair_id)
        return [RepairRecord.from_row(r) for r in self._read(q)]

    def add_event(self, run_id: int, type_: str, message: str = "", *, task_run_id: int | None = None,
                  data: dict[str, Any] | None = None) -> None:
        self._write(insert(s.events).values(run_id=run_id, task_run_id=task_run_id, time=_now_ms(), type=type_,
                                            message=message, data_json=json.dumps(data) if data else None))

    def events(self, run_id: int) -> list[EventRecord]:
        q = select(s.events).where(s.events.c.run_id == run_id).order_by(s.events.c.event_id)
        return [EventRecord.from_row(r) for r in self._read(q)]
