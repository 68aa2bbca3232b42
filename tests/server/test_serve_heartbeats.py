"""`serve` fails the runs of dead owners itself, within seconds: processes on its host by a
liveness check, on any host (a shared PostgreSQL store) by a silent heartbeat."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import insert, update

from lakeloom.store import schema as s
from lakeloom.store.store import RunStore, now_ms
from serving import LiveServer, make_workspace, wait_until


def _orphan(store: RunStore, **owner: object) -> int:
    settings = {"name": "nightly", "tasks": [{"task_key": "t", "python_task": {"function": "sv_tasks:ok"}}]}
    job = store.create_job("nightly", settings, creator="alice").job_id
    run_id = store.create_run(job_id=job, run_name="nightly", settings={"name": "nightly"}, job_parameters={},
                              life_cycle_state="RUNNING")
    store._write(update(s.runs).where(s.runs.c.run_id == run_id).values(**owner))
    return run_id


def test_a_silent_owner_on_another_host_is_detected(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path / 'lakeloom.db'}")
    silent = _orphan(store, owner_host="other-host", owner_pid=4242, owner_started="m1")
    alive = _orphan(store, owner_host="other-host", owner_pid=4343, owner_started="m2")
    store._write(insert(s.process_heartbeats).values(host="other-host", pid=4242, started="m1",
                                                     last_beat=now_ms() - 60_000))
    store._write(insert(s.process_heartbeats).values(host="other-host", pid=4343, started="m2",
                                                     last_beat=now_ms()))
    assert store.reap_orphans() == []  # another host's pids cannot be checked from here
    assert store.reap_silent_owners(10_000) == [silent]
    row = store.get_run(silent)
    assert (row.life_cycle_state, row.result_state, row.termination_code) == (
        "INTERNAL_ERROR", "FAILED", "DRIVER_ERROR")
    assert "no heartbeat" in row.state_message
    assert store.get_run(alive).life_cycle_state == "RUNNING"
    store.close()


def test_serve_reaps_a_dead_local_owner_and_cancel_works(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", {"server": {"heartbeat_seconds": 0.2}})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    srv = LiveServer(root, scheduler=False)
    try:
        store = srv.store
        by_heartbeat = _orphan(store, owner_pid=int(dead), owner_started="gone")
        wait_until(lambda: store.get_run(by_heartbeat).life_cycle_state == "INTERNAL_ERROR", timeout=60)
        assert store.get_run(by_heartbeat).termination_code == "DRIVER_ERROR"
        srv.service._beating.set()  # no more background reaping: cancel alone must end the next one
        by_cancel = _orphan(store, owner_pid=int(dead), owner_started="gone")
        token = srv.token("alice")
        r = httpx.post(f"{srv.url}/api/2.2/jobs/runs/cancel", json={"run_id": by_cancel},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert store.get_run(by_cancel).life_cycle_state == "INTERNAL_ERROR"
    finally:
        srv.close()
