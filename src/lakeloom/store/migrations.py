"""Schema creation and upgrades. Each step moves the store one version forward."""
from __future__ import annotations

from typing import Callable

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Connection

from lakeloom.store import schema as s

#: version -> step that upgrades a store from ``version - 1``. Version 1 is creation.
STEPS: dict[int, Callable[[Connection], None]] = {}


def _step_2(conn: Connection) -> None:
    """Version 2 (``lakeloom serve``): schedule tick claims, trigger state, job pause
    controls, API tokens, notification deliveries, and an index for queue scans."""
    s.metadata.create_all(conn, tables=list(s.V2_TABLES))
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_runs_job_state ON runs (job_id, life_cycle_state)")


STEPS[2] = _step_2


def _step_3(conn: Connection) -> None:
    """Version 3 (the dashboard): sign-in sessions and indexes for the runs page's filters."""
    s.metadata.create_all(conn, tables=list(s.V3_TABLES))
    for ddl in s.V3_INDEXES:
        conn.exec_driver_sql(ddl)


STEPS[3] = _step_3


def _step_4(conn: Connection) -> None:
    """Version 4: task run ids as BIGINT and user-supplied names as TEXT. Task run ids are
    ``run_id * 10**9 + n``, so a PostgreSQL store created with INTEGER columns failed to record
    any task of run 3 onwards (integer out of range); and PostgreSQL enforced VARCHAR lengths that
    SQLite ignores (a 600-character job name failed). SQLite's INTEGER is already 64-bit and its
    VARCHAR unbounded: nothing to do there."""
    if conn.dialect.name == "sqlite":
        return
    for table, column in s.V4_TASK_RUN_ID_COLUMNS:
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE BIGINT")
    for table, column in s.V4_TEXT_COLUMNS:
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE TEXT")
    if conn.dialect.name == "postgresql":
        seq = conn.exec_driver_sql("SELECT pg_get_serial_sequence('task_runs', 'task_run_id')").scalar()
        if seq:
            conn.exec_driver_sql(f"ALTER SEQUENCE {seq} AS BIGINT")


STEPS[4] = _step_4


def _step_5(conn: Connection) -> None:
    """Version 5: job and run ids are never reused. SQLite reused the id of a deleted newest
    run or job, so a new run showed the deleted run's log files. SQLite cannot add
    AUTOINCREMENT to a table: each is rebuilt with it (SQLite's generalized ALTER TABLE
    procedure, foreign keys off) and its rows copied with their ids, so ``sqlite_sequence``
    starts past them. PostgreSQL's sequences never reuse: nothing to do there."""
    if conn.dialect.name != "sqlite":
        return
    for name in s.V5_AUTOINCREMENT_TABLES:
        table = s.metadata.tables[name]
        later_indexes = [r[0] for r in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (name,)).fetchall() if not any(f" {i.name} " in f" {r[0]} " for i in table.indexes)]
        for (index,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                (name,)).fetchall():
            conn.exec_driver_sql(f'DROP INDEX "{index}"')
        # Create the new table under a temporary name, copy, drop the old, rename: renaming the
        # new table leaves other tables' references to ``name`` as they are.
        scratch = MetaData()
        for other in s.V5_AUTOINCREMENT_TABLES:  # so the copy's foreign keys resolve
            s.metadata.tables[other].to_metadata(scratch)
        rebuilt = table.to_metadata(scratch, name=f"{name}_v5")
        rebuilt.create(conn)
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        conn.exec_driver_sql(f'INSERT INTO "{name}_v5" ({columns}) SELECT {columns} FROM "{name}"')
        conn.exec_driver_sql(f'DROP TABLE "{name}"')
        conn.exec_driver_sql(f'ALTER TABLE "{name}_v5" RENAME TO "{name}"')
        for ddl in later_indexes:  # indexes added by later steps, not declared on the table
            conn.exec_driver_sql(ddl)


STEPS[5] = _step_5


def _step_6(conn: Connection) -> None:
    """Version 6: a heartbeat per ``serve`` process, so a process on another host sharing the
    store can tell that the owner of a run died (a liveness check only works on its own host)."""
    s.metadata.create_all(conn, tables=list(s.V6_TABLES))


STEPS[6] = _step_6


def _step_7(conn: Connection) -> None:
    """Version 7: ``runs.creator``, who caused a run (the caller of run-now, the principal a
    parent run runs as for its run_job_task child), apart from ``run_as``."""
    from sqlalchemy import inspect

    # A SQLite store rebuilt by step 5 already has the column (the rebuild uses this schema).
    if "creator" not in {c["name"] for c in inspect(conn).get_columns("runs")}:
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN creator TEXT")


STEPS[7] = _step_7


class StoreVersionError(RuntimeError):
    """The store was written by a newer lakeloom."""


def current_version(conn: Connection) -> int | None:
    if not conn.dialect.has_table(conn, s.meta.name):
        return None
    row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).first()
    return int(row[0]) if row else None


def migrate(conn: Connection) -> int:
    """Create or upgrade the schema; return the version now in force."""
    version = current_version(conn)
    if version is None:
        s.metadata.create_all(conn)
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_runs_job_state ON runs (job_id, life_cycle_state)")
        for ddl in s.V3_INDEXES:
            conn.exec_driver_sql(ddl)
        conn.execute(s.meta.insert().values(key="schema_version", value=str(s.SCHEMA_VERSION)))
        return s.SCHEMA_VERSION
    if version > s.SCHEMA_VERSION:
        raise StoreVersionError(
            f"the run store has schema version {version}; this lakeloom understands up to {s.SCHEMA_VERSION}")
    for v in range(version + 1, s.SCHEMA_VERSION + 1):
        STEPS[v](conn)
        conn.execute(s.meta.update().where(s.meta.c.key == "schema_version").values(value=str(v)))
    return s.SCHEMA_VERSION
