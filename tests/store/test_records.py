"""Typed store records: JSON columns come back decoded, jobs and runs carry their Job model."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.spec.models import Job
from lakeloom.store.records import RunRecord, StoredJob, TaskRunRecord
from lakeloom.store.store import RunStore

SETTINGS = {"name": "rec", "tasks": [{"task_key": "t", "python_task": {"function": "os:getcwd"}}],
            "parameters": [{"name": "day", "default": "mon"}]}


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = RunStore(f"sqlite:///{tmp_path / 'lakeloom.db'}")
    yield s
    s.close()


def test_jobs_come_back_as_stored_jobs_with_their_model(store: RunStore) -> None:
    created = store.create_job("rec", SETTINGS, creator="alice")
    stored = store.get_job(created.job_id)
    assert isinstance(stored, StoredJob) and stored == created
    assert stored.settings == SETTINGS and stored.creator == "alice" and stored.deployed is True
    assert isinstance(stored.job, Job) and stored.job.parameter_defaults == {"day": "mon"}
    store.update_job(stored.job_id, settings={**SETTINGS, "name": "renamed"}, name="renamed")
    assert [j.name for j in store.list_jobs()] == ["renamed"] and store.find_jobs("rec") == []
    assert store.get_job(stored.job_id).job.name == "renamed"  # type: ignore[union-attr]


def test_runs_and_attempts_decode_their_json_columns(store: RunStore) -> None:
    job_id = store.upsert_job("rec", SETTINGS, "/x/rec.yml")
    run_id = store.create_run(job_id=job_id, run_name="rec", settings=SETTINGS, job_parameters={"day": "tue"},
                              trigger_type="PERIODIC", trigger_info={"time": 60_000}, only=["t"],
                              life_cycle_state="RUNNING", start_time=1_234)
    run = store.get_run(run_id)
    assert isinstance(run, RunRecord)
    assert (run.job_parameters, run.trigger_info, run.only, run.start_time) == ({"day": "tue"}, {"time": 60_000},
                                                                                ["t"], 1_234)
    assert run.settings == SETTINGS and run.job.tasks[0].task_key == "t"
    tr = store.start_task_run(run_id, "t", attempt_number=0, execution_count=1, repair_id=None)
    bare = store.get_task_run(tr)
    assert isinstance(bare, TaskRunRecord) and (bare.output, bare.params, bare.child_run_ids) == ({}, None, [])
    store.end_task_run(tr, result_state="SUCCESS", state_message="", termination_code="SUCCESS",
                       output={"result": 7}, params={"day": "tue"}, child_run_ids=[5])
    ended = store.task_runs(run_id)[0]
    assert (ended.life_cycle_state, ended.result_state) == ("TERMINATED", "SUCCESS")
    assert (ended.output, ended.params, ended.child_run_ids) == ({"result": 7}, {"day": "tue"}, [5])
    repair_id = store.create_repair(run_id, ["t"])
    assert [(r.repair_id, r.rerun_tasks) for r in store.repairs(run_id)] == [(repair_id, ["t"])]
    store.add_event(run_id, "x", data={"k": 1})
    assert [(e.type, e.data) for e in store.events(run_id)] == [("x", {"k": 1})]
