"""The run store on a real PostgreSQL server (``store.url: postgresql+psycopg://...``).

One throwaway cluster serves the session (``postgres_cluster``); each test gets a fresh
database. Everything here runs through the same code as SQLite: the store, the engine,
repair, orphan reaping, the Jobs API over HTTP and the scheduler's tick claims.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Text, create_engine, inspect, text

import ll_tasks
from harness import HERE_FOR_SUBPROCESS, Harness, assert_settled, attempts, results, task, wait_until
from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.store import schema
from lakeloom.store.migrations import StoreVersionError
from lakeloom.store.run_shape import run_shape
from lakeloom.store.store import TASK_RUN_ID_STRIDE, RunStore

INT32_MAX = 2**31 - 1


def _for_each(key: str, inputs: Any, inner: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"task_key": key, "for_each_task": {"inputs": inputs, "task": inner, "concurrency": 2}, **fields}


def _burn_run_ids(store: RunStore, n: int = 3) -> None:
    """Create (empty) runs so the next runs' task run ids (run_id * 10**9 + n) exceed 32 bits."""
    job_id = store.upsert_job("burn", {"name": "burn"}, None)
    for _ in range(n):
        store.create_run(job_id=job_id, run_name="burn", settings={}, job_parameters={},
                         life_cycle_state="TERMINATED")


# --- schema and migrations ---------------------------------------------------------------

def test_schema_is_created_and_its_version_recorded(pg_url: str) -> None:
    store = RunStore(pg_url)
    try:
        assert store.engine.dialect.name == "postgresql"
        insp = inspect(store.engine)
        assert {t.name for t in schema.metadata.sorted_tables} <= set(insp.get_table_names())
        indexes = {i["name"] for i in insp.get_indexes("runs")}
        assert {"ix_runs_job_state", "ix_runs_result_start", "ix_runs_trigger_start", "ix_runs_parent"} <= indexes
        for table, column in schema.V4_TASK_RUN_ID_COLUMNS:
            col = next(c for c in insp.get_columns(table) if c["name"] == column)
            assert isinstance(col["type"], BigInteger), (table, column, col["type"])
        for table, column in schema.V4_TEXT_COLUMNS:
            col = next(c for c in insp.get_columns(table) if c["name"] == column)
            assert isinstance(col["type"], Text), (table, column, col["type"])
        with store.engine.connect() as conn:
            rows = conn.execute(text("select key, value from lakeloom_meta")).all()
        assert rows == [("schema_version", str(schema.SCHEMA_VERSION))]
    finally:
        store.close()
    RunStore(pg_url).close()  # reopening an up-to-date store is a no-op
    eng = create_engine(pg_url)
    with eng.begin() as conn:
        conn.execute(text("update lakeloom_meta set value = :v"), {"v": str(schema.SCHEMA_VERSION + 1)})
    eng.dispose()
    with pytest.raises(StoreVersionError, match="understands"):
        RunStore(pg_url)


def test_version_1_store_with_int4_task_run_ids_upgrades(pg_url: str) -> None:
    """A store created before version 4 (INTEGER task run ids) is migrated step by step and keeps its rows."""
    eng = create_engine(pg_url)
    v1_tables = [t for t in schema.metadata.sorted_tables if t not in schema.V2_TABLES + schema.V3_TABLES]
    with eng.begin() as conn:
        schema.metadata.create_all(conn, tables=v1_tables)
        for table, column in schema.V4_TASK_RUN_ID_COLUMNS:  # the INTEGER columns of versions 1-3
            if table != "notification_deliveries":
                conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE INTEGER")
        conn.exec_driver_sql("ALTER SEQUENCE task_runs_task_run_id_seq AS INTEGER")
        for table, column in schema.V4_TEXT_COLUMNS:  # and their VARCHAR(n) names
            if table in {t.name for t in v1_tables}:
                conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(256)")
        conn.execute(schema.meta.insert().values(key="schema_version", value="1"))
        conn.execute(text("insert into jobs (name, settings_json, created_time, updated_time, deployed) "
                          "values ('old', '{}', 1, 1, false)"))
        conn.execute(text("insert into runs (job_id, run_name, run_type, trigger_type, job_parameters_json, "
                          "settings_json, life_cycle_state, state_message, start_time, repair_count, "
                          "cancel_requested) values (1, 'old', 'JOB_RUN', 'ONE_TIME', '{}', '{}', 'TERMINATED', '',"
                          " 1, 0, false)"))
    eng.dispose()

    store = RunStore(pg_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("select value from lakeloom_meta")).scalar() == str(schema.SCHEMA_VERSION)
        insp = inspect(store.engine)
        assert {"schedule_ticks", "ui_sessions", "notification_deliveries"} <= set(insp.get_table_names())
        col = next(c for c in insp.get_columns("task_runs") if c["name"] == "task_run_id")
        assert isinstance(col["type"], BigInteger)
        assert store.get_run(1).run_name == "old"
        _burn_run_ids(store)
        long = "n" * 600  # SQLite never enforced VARCHAR lengths; neither does the upgraded store
        job_id = store.upsert_job(long, {"name": long}, None)
        run_id = store.create_run(job_id=job_id, run_name=long, settings={}, job_parameters={})
        tr = store.start_task_run(run_id, long, attempt_number=0, execution_count=1, repair_id=None)
        assert tr == run_id * TASK_RUN_ID_STRIDE + 1 > INT32_MAX
        store.set_task_value(run_id, long, long, 1)
        assert store.task_values(run_id) == {long: {long: 1}} and store.get_job(job_id).name == long
        store.add_event(run_id, "x", task_run_id=tr)
        assert store.events(run_id)[0].task_run_id == tr
    finally:
        store.close()


# --- the engine end to end ------------------------------------------------------------------

def test_engine_run_and_repair_on_postgres(pg_url: str, tmp_path: Path) -> None:
    ll_tasks.reset()
    h = Harness(tmp_path / "ws", {"store": {"url": pg_url}})
    flag = tmp_path / "flag"
    try:
        assert h.store.engine.dialect.name == "postgresql"
        _burn_run_ids(h.store)
        assert not h.store._sqlite  # the per-attempt writes take the ordinary SQLAlchemy path
        run = h.run([
            task("gen", "set_values", params={"items": ["x", "y", "z"], "n": 7}),
            task("flaky", "fail_until_attempt", params={"succeed_at": 1}, max_retries=2),
            _for_each("loop", "{{tasks.gen.values.items}}", task("each", "record_input", params={"value": "{{input}}"}),
                      depends_on=[{"task_key": "gen"}]),
            task("gated", "wait_for_file", deps=["flaky"], params={"path": str(flag), "fail_if_missing": True}),
            task("last", "get_value", deps=["gated", "loop"], params={"task_key": "gen", "key": "n"}),
        ], name="pg-job")
        run_id = run["run_id"]
        assert run["state"]["result_state"] == "FAILED"
        assert results(run) == {"gen": "SUCCESS", "flaky": "SUCCESS", "loop": "SUCCESS", "gated": "FAILED",
                                "last": "UPSTREAM_FAILED"}
        assert [t["attempt_number"] for t in attempts(run, "flaky")] == [0, 1]  # one retry
        assert sorted(c[0] for c in ll_tasks.state["calls"]) == ["x", "y", "z"]
        loop = attempts(run, "loop")[0]
        nested = [t for t in run["tasks"] if "iteration" in t]
        assert sorted(t["iteration"] for t in nested) == [0, 1, 2]
        assert {t["parent_run_id"] for t in nested} == {loop["run_id"]}
        ids = [t["run_id"] for t in run["tasks"]]
        assert len(set(ids)) == len(ids) and min(ids) > INT32_MAX  # 64-bit task run ids round-trip
        assert h.store.task_values(run_id) == {"gen": {"items": ["x", "y", "z"], "n": 7}}
        assert run_shape(h.store, run_id) == run

        flag.touch()
        repaired = h.engine.repair(run_id, rerun_all_failed=True)
        assert_settled(h.store, run_id)
        assert repaired["state"]["result_state"] == "SUCCESS"
        assert results(repaired) == {"gen": "SUCCESS", "flaky": "SUCCESS", "loop": "SUCCESS", "gated": "SUCCESS",
                                     "last": "SUCCESS"}
        assert [t["state"]["result_state"] for t in attempts(repaired, "gated")] == ["FAILED", "SUCCESS"]
        assert len(attempts(repaired, "gen")) == 1  # not rerun; its value still served "last"
        out = h.store.get_task_run(attempts(repaired, "last")[-1]["run_id"])
        assert out.output["result"] == {"value": 7}
        history = repaired["repair_history"]
        assert [r["type"] for r in history] == ["ORIGINAL", "REPAIR"]
        assert repaired["latest_repair_id"] == history[1]["id"] == h.store.repairs(run_id)[0].repair_id
        assert h.store.get_run(run_id).repair_count == 1
        assert any(e.type for e in h.store.events(run_id))
        assert run_shape(h.store, run_id) == repaired
        assert h.store._compiled == {}  # SQLite's raw-DBAPI fast path was never used
        assert [r.run_id for r in h.store.list_runs(job_id=run["job_id"])] == [run_id]
    finally:
        h.close()


def test_sigkilled_driver_is_reaped_as_driver_error(pg_url: str, tmp_path: Path) -> None:
    """The store URL from LAKELOOM_STORE_URL; a SIGKILLed run process is reaped by the next Engine."""
    ws = tmp_path / "ws"
    ws.mkdir()
    flag = tmp_path / "release"
    job = Harness.write_job_file(ws / "job.yml", [
        task("first", "set_values", params={"n": 7}),
        task("slow", "wait_for_file", deps=["first"], params={"path": str(flag)}),
    ], name="orphan")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {HERE_FOR_SUBPROCESS!r})
        from lakeloom.config import load_workspace
        from lakeloom.engine.api import Engine
        Engine.open(load_workspace({str(ws)!r})).submit({str(job)!r})
    """)
    env = {**os.environ, "LAKELOOM_STORE_URL": pg_url}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    watcher = RunStore(pg_url)
    try:
        def slow_running() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the run process exited early: {proc.stderr.read().decode()}")
            return any(r.task_key == "slow" and r.life_cycle_state == "RUNNING" for r in watcher.task_runs(1))
        wait_until(slow_running, timeout=60)
        assert watcher.reap_orphans() == []  # its process is alive: never reaped
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        watcher.close()

    os.environ["LAKELOOM_STORE_URL"] = pg_url
    try:
        engine = Engine.open(load_workspace(ws))  # reaps the orphan
    finally:
        del os.environ["LAKELOOM_STORE_URL"]
    try:
        assert engine.store.url == pg_url
        run = run_shape(engine.store, 1)
        assert run["state"]["life_cycle_state"] == "INTERNAL_ERROR" and run["state"]["result_state"] == "FAILED"
        assert run["status"]["termination_details"]["code"] == "DRIVER_ERROR"
        assert run["status"]["termination_details"]["type"] == "INTERNAL_ERROR"
        assert results(run) == {"first": "SUCCESS", "slow": "FAILED"}
        assert attempts(run, "slow")[0]["status"]["termination_details"]["code"] == "DRIVER_ERROR"
        assert any(e.type == "run_orphaned" for e in engine.store.events(1))
        assert engine.store.reap_orphans() == []  # idempotent
        flag.touch()
        repaired = engine.repair(1, rerun_all_failed=True)
        assert repaired["state"]["result_state"] == "SUCCESS"
        assert results(repaired) == {"first": "SUCCESS", "slow": "SUCCESS"}
    finally:
        engine.store.close()


# --- the Jobs API ------------------------------------------------------------------------------

def _api(srv: Any, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(f"{srv.url}/api/2.2/jobs/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_jobs_api_run_shape_on_postgres(pg_url: str, tmp_path: Path) -> None:
    server_tests = str(Path(__file__).resolve().parents[1] / "server")
    if server_tests not in sys.path:
        sys.path.insert(0, server_tests)
    from serving import LiveServer, make_workspace

    ll_tasks.reset()
    flag = tmp_path / "flag"
    srv = LiveServer(make_workspace(tmp_path / "ws", {"store": {"url": pg_url}}), scheduler=False)
    try:
        assert srv.store.engine.dialect.name == "postgresql"
        _burn_run_ids(srv.store)
        token = srv.token("alice", admin=True)

        def py(key: str, fn: str, **block: Any) -> dict[str, Any]:
            return {"task_key": key, "python_task": {"function": f"ll_tasks:{fn}", **block}}
        job_id = _api(srv, token, "POST", "create", {
            "name": "api-job", "parameters": [{"name": "day", "default": "mon"}],
            "tasks": [py("a", "set_values", parameters={"day": "{{job.parameters.day}}"}),
                      {**py("b", "wait_for_file", parameters={"path": str(flag), "fail_if_missing": True}),
                       "depends_on": [{"task_key": "a"}]}]})["job_id"]
        assert [j["job_id"] for j in _api(srv, token, "GET", "list")["jobs"]] == [job_id]
        run_id = _api(srv, token, "POST", "run-now", {"job_id": job_id, "job_parameters": {"day": "tue"}})["run_id"]

        def finished() -> Any:
            got = _api(srv, token, "GET", f"runs/get?run_id={run_id}")
            return got if got["state"]["life_cycle_state"] == "TERMINATED" else None
        run = wait_until(finished, timeout=30)
        assert run["job_id"] == job_id and run["run_name"] == "api-job"
        assert run["state"]["result_state"] == "FAILED" and run["status"]["state"] == "TERMINATED"
        assert run["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"
        assert run["job_parameters"] == [{"name": "day", "default": "mon", "value": "tue"}]
        assert run["run_duration"] == run["end_time"] - run["start_time"] >= 0
        assert {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]} == {"a": "SUCCESS", "b": "FAILED"}
        assert all(t["run_id"] > INT32_MAX for t in run["tasks"])
        assert srv.store.task_values(run_id) == {"a": {"day": "tue"}}
        b = next(t for t in run["tasks"] if t["task_key"] == "b")
        out = _api(srv, token, "GET", f"runs/get-output?run_id={b['run_id']}")
        assert "does not exist yet" in out["error"] and out["metadata"]["job_id"] == job_id
        listed = _api(srv, token, "GET", f"runs/list?job_id={job_id}&expand_tasks=true")
        assert [r["run_id"] for r in listed["runs"]] == [run_id] and listed["has_more"] is False
        assert listed["runs"][0]["tasks"] == run["tasks"]

        flag.touch()
        repair_id = _api(srv, token, "POST", "runs/repair", {"run_id": run_id, "rerun_all_failed_tasks": True})[
            "repair_id"]

        def repaired() -> Any:
            got = _api(srv, token, "GET", f"runs/get?run_id={run_id}")
            return got if got["state"]["life_cycle_state"] == "TERMINATED" and got.get("latest_repair_id") else None
        after = wait_until(repaired, timeout=30)
        assert after["state"]["result_state"] == "SUCCESS" and after["latest_repair_id"] == repair_id
        assert [t["attempt_number"] for t in after["tasks"] if t["task_key"] == "b"] == [0, 1]
    finally:
        srv.close()


# --- the scheduler's claims -----------------------------------------------------------------------

def test_tick_claims_are_exclusive_across_stores(pg_url: str) -> None:
    stores = [RunStore(pg_url) for _ in range(3)]
    try:
        job_id = stores[0].create_job("ticked", {"name": "ticked"}, creator="t").job_id
        assert stores[0].claim_tick(job_id, 60_000, "cron")
        assert not stores[1].claim_tick(job_id, 60_000, "cron")
        assert not stores[0].claim_tick(job_id, 60_000, "cron")
        # The failed INSERT left no aborted transaction behind: the same connections keep working.
        assert stores[1].claim_tick(job_id, 120_000, "cron")
        stores[1].set_tick_run(job_id, 120_000, 42)
        assert [(t["scheduled_time"], t["run_id"]) for t in stores[2].ticks(job_id)] == [(60_000, None),
                                                                                        (120_000, 42)]
        assert stores[2].last_tick(job_id) == 120_000

        # Racing claimants on separate connections (threads of three "processes"): one winner per tick.
        wins: list[tuple[int, int]] = []
        barrier = threading.Barrier(6)

        def claimant(i: int) -> None:
            store = stores[i % 3]
            barrier.wait()
            for tick in range(10):
                if store.claim_tick(job_id, 1_000_000 + tick, "cron"):
                    wins.append((i, tick))
        threads = [threading.Thread(target=claimant, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(tick for _, tick in wins) == list(range(10))

        # The other compare-and-set primitives of `serve`.
        assert stores[0].cas_trigger_state(job_id, "cron", 0, {"since": 1})
        assert not stores[1].cas_trigger_state(job_id, "cron", 0, {"since": 2})
        assert stores[1].cas_trigger_state(job_id, "cron", 1, {"since": 3})
        assert stores[2].trigger_state(job_id, "cron") == (2, {"since": 3})
        queued = stores[0].create_run(job_id=job_id, run_name="q", settings={}, job_parameters={},
                                      life_cycle_state="QUEUED")
        assert [s.claim_queued_run(queued) for s in stores] == [True, False, False]
        stores[0].set_pause(job_id, "PAUSED", by="t")
        stores[1].set_pause(job_id, "UNPAUSED", by="t")
        assert stores[2].pause_overrides() == {job_id: "UNPAUSED"}
        assert [j.job_id for j in stores[2].deployed_jobs()] == [job_id]
        assert stores[2].jobs_fingerprint()[0] == 1
    finally:
        for s in stores:
            s.close()


def test_two_schedulers_fire_a_tick_once(pg_url: str, tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from lakeloom.engine.executor import RunExecutor
    from lakeloom.scheduler.clock import ManualClock
    from lakeloom.scheduler.loop import Scheduler
    from lakeloom.spec.cron import ms

    ll_tasks.reset()
    start = ms(datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc))
    h = Harness(tmp_path / "ws", {"store": {"url": pg_url}})
    executor = RunExecutor(h.engine, per_run_spark=False)
    try:
        clock = ManualClock(start)
        job_id = h.store.create_job("every-minute", {
            "name": "every-minute", "tasks": [task("t")],
            "schedule": {"quartz_cron_expression": "0 * * * * ?", "timezone_id": "UTC"}}, creator="tester").job_id
        first = Scheduler(executor, clock=clock, poll_seconds=5, refresh_seconds=0)
        second = Scheduler(executor, clock=clock, poll_seconds=5, refresh_seconds=0)
        first.tick()
        second.tick()  # first sight: nothing due yet
        clock.advance(61)  # 12:01:01: the 12:01:00 tick is due for both
        first.tick()
        second.tick()
        wait_until(lambda: not executor.active_run_ids(), timeout=30)
        runs = h.store.list_runs(job_id=job_id)
        assert len(runs) == 1 and runs[0].trigger_type == "PERIODIC" and runs[0].result_state == "SUCCESS"
        ticks = h.store.ticks(job_id)
        assert [(t["scheduled_time"], t["run_id"]) for t in ticks] == [(start + 60_000, runs[0].run_id)]
    finally:
        h.close()


# --- a lost or failed connection ------------------------------------------------------------------

def _terminate_backends(cluster: Any, url: str) -> int:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=cluster.port, user=cluster.USER, dbname="postgres",
                         autocommit=True) as conn:
        return int(conn.execute(
            "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()) t", (url.rsplit("/", 1)[1],)).fetchone()[0])


def test_store_survives_a_lost_connection_and_a_failed_statement(postgres_cluster: Any, pg_url: str) -> None:
    store = RunStore(pg_url)
    try:
        job_id = store.upsert_job("j", {"name": "j"}, "/x/job.yml")
        assert _terminate_backends(postgres_cluster, pg_url) == 1  # a server restart or an idle-connection kill
        assert store.get_job(job_id).name == "j"  # the read runs again on a new connection
        assert _terminate_backends(postgres_cluster, pg_url) == 1
        run_id = store.create_run(job_id=job_id, run_name="j", settings={}, job_parameters={})  # so does a write
        assert [r.run_id for r in store.list_runs()] == [run_id]
        # A statement that fails leaves no aborted transaction behind on the shared connection.
        with pytest.raises(Exception, match="division by zero"):
            store._read(text("select 1 / 0"))
        assert store.get_run(run_id).run_name == "j"
        with pytest.raises(Exception, match="division by zero"):
            store._write(text("select 1 / 0"))
        store.request_cancel(run_id)
        assert store.cancel_requested(run_id)
    finally:
        store.close()


def test_dashboard_and_token_queries(pg_url: str) -> None:
    from lakeloom.store.ui import RunFilter

    store = RunStore(pg_url)
    try:
        job_id = store.create_job("dash", {"name": "dash"}, creator="alice").job_id
        ids = []
        for i, (state, trigger) in enumerate([("SUCCESS", "ONE_TIME"), ("FAILED", "PERIODIC"), ("SUCCESS", "PERIODIC")]):
            rid = store.create_run(job_id=job_id, run_name="dash", settings={}, job_parameters={},
                                   trigger_type=trigger, life_cycle_state="TERMINATED")
            store.update_run(rid, result_state=state, start_time=1_000 + i, end_time=2_000 + i)
            ids.append(rid)
        child = store.create_run(job_id=job_id, run_name="child", settings={}, job_parameters={},
                                 parent_run_id=ids[0], life_cycle_state="RUNNING")
        newest_first = [child, *reversed(ids)]
        assert [r["run_id"] for r in store.runs_filtered(RunFilter(), limit=10)] == newest_first
        assert [r["run_id"] for r in store.runs_filtered(RunFilter(state="SUCCESS"), limit=10)] == [ids[2], ids[0]]
        assert [r["run_id"] for r in store.runs_filtered(RunFilter(trigger_type="PERIODIC", job_ids=(job_id,)),
                                                         limit=10)] == [ids[2], ids[1]]
        assert [r["run_id"] for r in store.runs_filtered(RunFilter(state="ACTIVE"), limit=10)] == [child]
        page1 = store.runs_filtered(RunFilter(), limit=2)
        page2 = store.runs_filtered(RunFilter(), limit=2, after=(page1[-1]["start_time"], page1[-1]["run_id"]))
        assert [r["run_id"] for r in page1 + page2] == newest_first
        back = store.runs_filtered(RunFilter(), limit=2, before=(page2[0]["start_time"], page2[0]["run_id"]))
        assert back == page1
        assert [r["run_id"] for r in store.recent_runs(job_id)] == list(reversed(ids))
        assert [r["run_id"] for r in store.child_runs(ids[0])] == [child]
        assert store.job_names() == {job_id: "dash"} and store.any_active_run(ids + [child])
        page = store.list_runs_page(job_ids=[job_id], completed_only=True, limit=2)
        assert [r.run_id for r in page] == [ids[2], ids[1]]

        token_id, token = store.create_token("alice", is_admin=True, lifetime_seconds=3600)
        assert store.lookup_token(token)["is_admin"] is True
        cookie, csrf = store.create_session(token_id, lifetime_seconds=60, token_expiry=None)
        session = store.lookup_session(cookie)
        assert session["principal"] == "alice" and session["is_admin"] is True and session["csrf_token"] == csrf
        assert store.revoke_token(token_id) and not store.revoke_token(token_id)
        assert store.lookup_session(cookie) is None and store.lookup_token(token) is None
        store.record_delivery(run_id=ids[1], event_type="on_failure", notifier="webhook", destination="d" * 700,
                              attempt=1, status="DELIVERED", http_status=200)
        assert store.deliveries(ids[1])[0]["destination"] == "d" * 700
        store.delete_job(job_id)
        assert store.count_runs() == 0 and store.list_jobs() == []
    finally:
        store.close()
