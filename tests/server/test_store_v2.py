"""Schema version 2: a version-1 store upgrades in place; tick claims and trigger state are
exclusive; tokens are stored hashed."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from lakeloom.store import schema
from lakeloom.store.control import hash_token
from lakeloom.store.store import RunStore


def test_v1_store_upgrades_to_v2_keeping_its_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v1.db'}"
    eng = create_engine(url)
    v1_tables = [t for t in schema.metadata.sorted_tables if t not in schema.V2_TABLES + schema.V3_TABLES]
    with eng.begin() as conn:
        schema.metadata.create_all(conn, tables=v1_tables)
        conn.execute(schema.meta.insert().values(key="schema_version", value="1"))
        conn.execute(text("insert into jobs (name, settings_json, created_time, updated_time, deployed) "
                          "values ('old', '{}', 1, 1, 0)"))
        conn.execute(text("insert into runs (job_id, run_name, run_type, trigger_type, job_parameters_json, "
                          "settings_json, life_cycle_state, state_message, start_time, repair_count, "
                          "cancel_requested) values (1, 'old', 'JOB_RUN', 'ONE_TIME', '{}', '{}', 'TERMINATED', '',"
                          " 1, 0, 0)"))
    assert "schedule_ticks" not in inspect(eng).get_table_names()
    eng.dispose()

    store = RunStore(url)
    names = set(inspect(store.engine).get_table_names())
    assert {t.name for t in schema.V2_TABLES} <= names
    with store.engine.connect() as conn:
        assert conn.execute(text("select value from lakeloom_meta")).scalar() == str(schema.SCHEMA_VERSION) == "7"
        indexes = {i["name"] for i in inspect(conn).get_indexes("runs")}
    assert {"ix_runs_job_state", "ix_runs_result_start", "ix_runs_trigger_start"} <= indexes
    assert "ui_sessions" in names
    assert store.get_run(1).run_name == "old"
    assert store.claim_tick(1, 60_000, "cron") and not store.claim_tick(1, 60_000, "cron")
    assert store.cas_trigger_state(1, "cron", 0, {"since": 1})
    assert not store.cas_trigger_state(1, "cron", 0, {"since": 2})
    assert store.cas_trigger_state(1, "cron", 1, {"since": 3}) and store.trigger_state(1, "cron") == (2, {"since": 3})
    token_id, token = store.create_token("alice")
    with store.engine.connect() as conn:
        stored = conn.execute(text("select token_hash from api_tokens")).scalar()
    assert stored == hash_token(token) and token not in stored
    assert store.lookup_token(token)["principal"] == "alice"
    assert store.revoke_token(token_id) and store.lookup_token(token) is None
    store.close()
