"""SIGKILL of the process driving a run: nothing recorded is lost, the next Engine reaps it,
and repair finishes it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import HERE_FOR_SUBPROCESS, Harness, assert_settled, attempts, results, task, wait_until
from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.store.run_shape import run_shape
from lakeloom.store.store import RunStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def test_sigkill_mid_run_is_reaped_and_repaired(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    flag = tmp_path / "release"
    job = Harness.write_job_file(ws / "job.yml", [
        task("first", "set_values", params={"n": 7}),
        task("slow", "wait_for_file", deps=["first"], params={"path": str(flag)}),
        task("parallel", "wait_for_file", deps=["first"], params={"path": str(flag)}),
        task("last", "get_value", deps=["slow", "parallel"], params={"task_key": "first", "key": "n"}),
    ])
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {HERE_FOR_SUBPROCESS!r})
        from lakeloom.config import load_workspace
        from lakeloom.engine.api import Engine
        Engine.open(load_workspace({str(ws)!r})).submit({str(job)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = RunStore(load_workspace(ws).store_url)
    try:
        def both_running() -> bool:
            running = {r.task_key for r in store.task_runs(1) if r.life_cycle_state == "RUNNING"}
            if proc.poll() is not None:
                raise AssertionError(f"the run process exited early: {proc.stderr.read().decode()}")
            return {"slow", "parallel"} <= running
        wait_until(both_running, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)  # reap the zombie: a zombie still answers kill(pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        store.close()

    engine = Engine.open(load_workspace(ws))  # the next lakeloom command reaps the orphan
    run = run_shape(engine.store, 1)
    assert run is not None
    assert run["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    assert run["state"]["result_state"] == "FAILED"
    assert run["status"]["termination_details"]["code"] == "DRIVER_ERROR"
    assert run["status"]["termination_details"]["type"] == "INTERNAL_ERROR"
    assert run["end_time"] >= run["start_time"]
    res = results(run)
    # What was recorded before the kill survives; the running tasks are failed with DRIVER_ERROR.
    assert res == {"first": "SUCCESS", "slow": "FAILED", "parallel": "FAILED"}
    for key in ("slow", "parallel"):
        entry = attempts(run, key)[0]
        assert entry["status"]["termination_details"]["code"] == "DRIVER_ERROR"
        assert "died" in entry["state"]["state_message"]
    assert engine.store.task_values(1) == {"first": {"n": 7}}
    assert any(e.type == "run_orphaned" for e in engine.store.events(1))

    flag.touch()
    repaired = engine.repair(1, rerun_all_failed=True)
    assert_settled(engine.store, 1)
    assert repaired["state"]["result_state"] == "SUCCESS"
    assert results(repaired) == {"first": "SUCCESS", "slow": "SUCCESS", "parallel": "SUCCESS", "last": "SUCCESS"}
    assert len(attempts(repaired, "first")) == 1
    assert [t["attempt_number"] for t in attempts(repaired, "slow")] == [0, 1]
    engine.store.close()


def test_reaping_is_a_liveness_check_not_a_timeout(tmp_path: Path) -> None:
    """A run owned by a live process is left alone; one owned by a dead pid is reaped."""
    store = RunStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        job_id = store.upsert_job("j", {"name": "j", "tasks": []}, None)
        live = store.create_run(job_id=job_id, run_name="j", settings={}, job_parameters={},
                                life_cycle_state="RUNNING")
        dead = store.create_run(job_id=job_id, run_name="j", settings={}, job_parameters={},
                                life_cycle_state="RUNNING")
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        store.update_run(dead, owner_pid=gone.pid, owner_started=None)
        store.update_run(live, start_time=0)  # ancient, but its process (this one) is alive
        t = store.start_task_run(dead, "t", attempt_number=0, execution_count=1, repair_id=None)
        assert store.reap_orphans() == [dead]
        assert store.get_run(live).life_cycle_state == "RUNNING"
        assert store.get_run(dead).termination_code == "DRIVER_ERROR"
        assert store.get_task_run(t).result_state == "FAILED"
        assert store.reap_orphans() == []  # idempotent
    finally:
        store.close()
