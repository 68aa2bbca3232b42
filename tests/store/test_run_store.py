"""The run store: schema version, durability across instances, and the Jobs API Run shape."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import ll_tasks  # noqa: E402
from harness import Harness, task  # noqa: E402
from lakeloom.store import schema
from lakeloom.store.migrations import StoreVersionError
from lakeloom.store.run_shape import run_shape
from lakeloom.store.store import RunStore


def test_schema_version_is_recorded_and_checked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lakeloom.db'}"
    store = RunStore(url)
    with store.engine.connect() as conn:
        version = conn.execute(text("select value from lakeloom_meta where key = 'schema_version'")).scalar()
        mode = conn.execute(text("pragma journal_mode")).scalar()
    assert version == str(schema.SCHEMA_VERSION)
    assert mode == "wal"
    store.close()
    RunStore(url).close()  # reopening an up-to-date store is a no-op
    with store.engine.begin() as conn:
        conn.execute(text("update lakeloom_meta set value = :v where key = 'schema_version'"),
                     {"v": str(schema.SCHEMA_VERSION + 1)})
    store.engine.dispose()
    with pytest.raises(StoreVersionError, match="newer|understands"):
        RunStore(url)


def test_writes_are_visible_to_another_store_instance(tmp_path: Path) -> None:
    """Each write commits at once: a second connection (another process) sees it."""
    url = f"sqlite:///{tmp_path / 'lakeloom.db'}"
    a, b = RunStore(url), RunStore(url)
    try:
        job_id = a.upsert_job("j", {"name": "j"}, "/x/job.yml")
        assert a.upsert_job("j", {"name": "j"}, "/x/job.yml") == job_id  # same (name, source): same job
        run_id = a.create_run(job_id=job_id, run_name="j", settings={"name": "j"}, job_parameters={"p": "1"},
                              life_cycle_state="RUNNING")
        tr = a.start_task_run(run_id, "t", attempt_number=0, execution_count=1, repair_id=None)
        a.set_task_value(run_id, "t", "k", {"v": [1]})
        a.set_task_value(run_id, "t", "k", {"v": [2]})  # overwrite, not a second row
        assert b.get_run(run_id).life_cycle_state == "RUNNING"
        assert b.get_task_run(tr).life_cycle_state == "RUNNING"
        assert b.task_values(run_id) == {"t": {"k": {"v": [2]}}}
        b.request_cancel(run_id)
        assert a.cancel_requested(run_id)
    finally:
        a.close()
        b.close()


RUN_FIELDS = {"run_id", "job_id", "run_name", "state", "status", "start_time", "end_time", "run_duration",
              "job_parameters", "trigger", "repair_history", "tasks"}
TASK_FIELDS = {"task_key", "run_id", "attempt_number", "state", "status", "start_time", "end_time",
               "execution_duration"}


@pytest.fixture
def harness(tmp_path: Path):  # type: ignore[no-untyped-def]
    ll_tasks.reset()
    h = Harness(tmp_path)
    yield h
    h.close()


def test_run_shape_fields(harness: Harness) -> None:
    run = harness.run([task("a", "fail_until_attempt", params={"succeed_at": 1}, max_retries=1),
                       task("b", "fail", deps=["a"]), task("c", deps=["b"])],
                      name="shape-job", parameters=[{"name": "p", "default": "x"}], params={"p": "y"})
    assert RUN_FIELDS <= set(run)
    assert json.loads(json.dumps(run)) == run  # plain JSON
    assert run["run_name"] == "shape-job" and isinstance(run["job_id"], int)
    assert set(run["state"]) >= {"life_cycle_state", "result_state", "state_message"}
    assert run["state"]["life_cycle_state"] == "TERMINATED" and run["state"]["result_state"] == "FAILED"
    assert run["status"]["state"] == "TERMINATED"
    assert set(run["status"]["termination_details"]) == {"code", "type", "message"}
    assert run["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"
    assert run["status"]["termination_details"]["type"] == "CLIENT_ERROR"
    assert run["end_time"] >= run["start_time"] > 0
    assert run["run_duration"] == run["end_time"] - run["start_time"]
    assert run["job_parameters"] == [{"name": "p", "default": "x", "value": "y"}]
    assert run["trigger"] == "ONE_TIME"
    assert run["repair_history"][0]["type"] == "ORIGINAL"
    keys = [(t["task_key"], t["attempt_number"]) for t in run["tasks"]]
    assert keys == [("a", 0), ("a", 1), ("b", 0), ("c", 0)]  # one entry per attempt
    for t in run["tasks"]:
        assert TASK_FIELDS <= set(t)
        assert t["execution_duration"] == t["end_time"] - t["start_time"]
        assert set(t["status"]["termination_details"]) == {"code", "type", "message"}
    by = {(t["task_key"], t["attempt_number"]): t for t in run["tasks"]}
    assert by[("a", 0)]["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"
    assert by[("a", 1)]["status"]["termination_details"] == {"code": "SUCCESS", "type": "SUCCESS", "message": ""}
    assert by[("c", 0)]["state"]["life_cycle_state"] == "SKIPPED"
    assert by[("c", 0)]["state"]["result_state"] == "UPSTREAM_FAILED"
    assert by[("c", 0)]["status"]["termination_details"]["code"] == "SKIPPED"
    assert len({t["run_id"] for t in run["tasks"]}) == 4
    # Reading it back later gives the same shape.
    assert run_shape(harness.store, run["run_id"]) == run


def test_run_shape_of_unknown_run_is_none(harness: Harness) -> None:
    assert run_shape(harness.store, 12345) is None


def test_list_runs_filters(harness: Harness) -> None:
    ok = harness.run([task("a")])
    bad = harness.run([task("a", "fail")])
    assert [r.run_id for r in harness.store.list_runs()] == [bad["run_id"], ok["run_id"]]
    assert harness.store.list_runs(active_only=True) == []
    assert len(harness.store.list_runs(completed_only=True, limit=1)) == 1
    assert harness.store.count_runs() == 2
    assert [r.run_id for r in harness.store.list_runs(job_id=ok["job_id"])] == [ok["run_id"]]
