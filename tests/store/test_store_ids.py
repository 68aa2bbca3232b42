"""Job and run ids are never reused (Databricks ids are unique for ever), also in a store
created before schema version 5; deleting a run through the API deletes its files."""
from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import text

from lakeloom.store import schema
from lakeloom.store.store import RunStore


def _new_run(store: RunStore, job_id: int) -> int:
    return store.create_run(job_id=job_id, run_name="j", settings={"name": "j"}, job_parameters={})


def _assert_ids_not_reused(store: RunStore) -> None:
    job = store.create_job("j", {"name": "j"}, creator="me").job_id
    first, newest = _new_run(store, job), _new_run(store, job)
    store.delete_runs([newest])
    assert _new_run(store, job) > newest > first
    store.delete_job(job)
    assert store.create_job("k", {"name": "k"}, creator="me").job_id > job


def test_ids_of_deleted_runs_and_jobs_are_never_reused(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path / 'lakeloom.db'}")
    _assert_ids_not_reused(store)
    store.close()


def _downgrade_to_v4(url: str) -> None:
    """Rebuild jobs and runs as schema version 4 created them: without AUTOINCREMENT."""
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    indexes = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('jobs', 'runs') AND sql IS NOT NULL")]
    for name in ("jobs", "runs"):
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
        assert "AUTOINCREMENT" in ddl
        conn.execute(ddl.replace(f"TABLE {name} ", f"TABLE {name}_old ", 1).replace(" AUTOINCREMENT", ""))
        conn.execute(f"INSERT INTO {name}_old SELECT * FROM {name}")
        conn.execute(f"DROP TABLE {name}")
        conn.execute(f"ALTER TABLE {name}_old RENAME TO {name}")
    for ddl in indexes:
        conn.execute(ddl)
    conn.execute("UPDATE lakeloom_meta SET value = '4' WHERE key = 'schema_version'")
    conn.execute("COMMIT")
    conn.close()


def test_a_version_4_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lakeloom.db'}"
    store = RunStore(url)
    job = store.create_job("old", {"name": "old"}, creator="me").job_id
    kept = _new_run(store, job)
    store.close()
    store.engine.dispose()
    _downgrade_to_v4(url)
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///")) as raw:
        assert "AUTOINCREMENT" not in raw.execute("SELECT sql FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    migrated = RunStore(url)
    with migrated.engine.connect() as conn:
        version = conn.execute(text("SELECT value FROM lakeloom_meta WHERE key = 'schema_version'")).scalar()
        indexes = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert version == str(schema.SCHEMA_VERSION)
    assert {"ix_runs_job_start", "ix_runs_job_state", "ix_runs_parent"} <= indexes
    assert migrated.get_run(kept).job_id == job and migrated.get_job(job).name == "old"
    _assert_ids_not_reused(migrated)
    migrated.close()


def test_deleting_a_run_deletes_its_files(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
    from serving import LiveServer, make_workspace, wait_until

    srv = LiveServer(make_workspace(tmp_path / "ws"), scheduler=False)
    try:
        token = srv.token("alice")
        headers = {"Authorization": f"Bearer {token}"}
        api = f"{srv.url}/api/2.2/jobs"
        job = httpx.post(f"{api}/create", headers=headers, json={"name": "j", "tasks": [
            {"task_key": "t", "shell_task": {"command": "echo a line for the log"}}]}).json()["job_id"]

        def run() -> int:
            run_id = httpx.post(f"{api}/run-now", headers=headers, json={"job_id": job}).json()["run_id"]
            wait_until(lambda: srv.store.get_run(run_id).life_cycle_state == "TERMINATED", timeout=60)
            return run_id

        first = run()
        logs = srv.service.engine.workspace.logs_dir / str(first)
        assert logs.is_dir()
        assert httpx.post(f"{api}/runs/delete", headers=headers, json={"run_id": first}).status_code == 200
        assert not logs.exists()
        assert run() > first
    finally:
        srv.close()


def test_ids_are_never_reused_on_postgresql(pg_url: str) -> None:
    store = RunStore(pg_url)
    _assert_ids_not_reused(store)
    store.close()
