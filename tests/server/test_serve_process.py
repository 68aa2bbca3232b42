"""Real `lakeloom serve` processes: two on one store fire each seconds-level Quartz tick exactly
once; SIGKILL mid-run then restart reaps the run (DRIVER_ERROR) and resumes the queue; SIGTERM
drains and cancels."""
from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lakeloom.cli.main import cli
from lakeloom.config import load_workspace
from lakeloom.store.store import RunStore
from serving import free_port, make_workspace, serve_process, wait_until, write_job

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals")
ENV = {"PYTHONPATH": str(Path(__file__).parent)}


def py(key: str, fn: str, **params: Any) -> dict[str, Any]:
    return {"task_key": key, "python_task": {"function": f"sv_tasks:{fn}", "parameters": params}}


def deploy(root: Path) -> None:
    result = CliRunner().invoke(cli, ["--workspace", str(root), "deploy"])
    assert result.exit_code == 0, result.output


def api(port: int, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.2/jobs/{path}", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def stop(proc: Any, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(30)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def test_two_serve_processes_fire_each_tick_once(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", {"server": {"job_refresh_seconds": 0.5}})
    write_job(root, "every-second", [py("t", "ok")], max_concurrent_runs=10,
              schedule={"quartz_cron_expression": "* * * * * ?", "timezone_id": "Europe/Paris"})
    deploy(root)
    store = RunStore(load_workspace(root).store_url)
    ports = [free_port(), free_port()]
    procs = [serve_process(root, p, "--no-warm-spark", env=ENV) for p in ports]
    try:
        wait_until(lambda: all(healthy(p) for p in ports), timeout=30)
        wait_until(lambda: len([r for r in store.list_runs(limit=100) if r.result_state == "SUCCESS"]) >= 6,
                   timeout=40)
    finally:
        for p in procs:
            stop(p)
    job_id = store.find_jobs("every-second")[0].job_id
    ticks = store.ticks(job_id)
    runs = store.list_runs(job_id=job_id, limit=1000)
    times = [r.trigger_info["time"] for r in runs]
    assert len(times) == len(set(times)) == len(ticks)  # one run per tick, no tick twice
    assert sorted(times) == [t["scheduled_time"] for t in ticks]
    assert all(t["scheduled_time"] % 1000 == 0 for t in ticks)  # whole seconds, as the expression says
    assert {r.trigger_type for r in runs} == {"PERIODIC"}
    assert all(r.life_cycle_state in ("TERMINATED", "INTERNAL_ERROR") or r.result_state for r in runs)
    store.close()


def test_sigkill_then_restart_reaps_and_resumes_queue_and_sigterm_drains(tmp_path: Path) -> None:
    gate, never = tmp_path / "gate", tmp_path / "never"
    root = make_workspace(tmp_path / "ws")
    write_job(root, "gated", [py("w", "wait_file", path=str(gate))], max_concurrent_runs=1, queue={"enabled": True})
    write_job(root, "blocker", [py("w", "wait_file", path=str(never))])
    deploy(root)
    store = RunStore(load_workspace(root).store_url)
    token = store.create_token("ops", is_admin=True)[1]
    gated, blocker = (store.find_jobs(n)[0].job_id for n in ("gated", "blocker"))
    port = free_port()
    proc = serve_process(root, port, "--no-warm-spark", env=ENV)
    try:
        wait_until(lambda: healthy(port), timeout=30)
        first = api(port, token, "run-now", {"job_id": gated})["run_id"]
        second = api(port, token, "run-now", {"job_id": gated})["run_id"]
        wait_until(lambda: any(r.life_cycle_state == "RUNNING" for r in store.task_runs(first)))
        assert store.get_run(second).life_cycle_state == "QUEUED"
        stop(proc, signal.SIGKILL)
    finally:
        stop(proc, signal.SIGKILL)
    gate.touch()
    proc = serve_process(root, port, "--no-warm-spark", "--drain-seconds", "0.5", env=ENV)
    try:
        wait_until(lambda: healthy(port), timeout=30)
        dead = store.get_run(first)
        assert (dead.life_cycle_state, dead.result_state, dead.termination_code) == (
            "INTERNAL_ERROR", "FAILED", "DRIVER_ERROR")
        wait_until(lambda: store.get_run(second).result_state == "SUCCESS", timeout=30)
        blocked = api(port, token, "run-now", {"job_id": blocker})["run_id"]
        wait_until(lambda: any(r.life_cycle_state == "RUNNING" for r in store.task_runs(blocked)))
        stop(proc, signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its graceful shutdown (the lifespan drain ran first).
        assert proc.returncode in (0, -signal.SIGTERM), proc.stderr.read().decode()[-2000:]
    finally:
        stop(proc, signal.SIGKILL)
    drained = store.get_run(blocked)
    assert (drained.life_cycle_state, drained.result_state) == ("TERMINATED", "CANCELED")
    store.close()


def test_sigkill_of_one_serve_the_other_fails_its_run_and_the_schedule_goes_on(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    root = make_workspace(tmp_path / "ws", {"server": {"job_refresh_seconds": 0.5, "heartbeat_seconds": 0.3}})
    write_job(root, "every-second", [py("w", "wait_file", path=str(gate))],
              schedule={"quartz_cron_expression": "* * * * * ?", "timezone_id": "UTC"})
    deploy(root)
    store = RunStore(load_workspace(root).store_url)
    job_id = store.find_jobs("every-second")[0].job_id
    ports = [free_port(), free_port()]
    procs = [serve_process(root, p, "--no-warm-spark", env=ENV) for p in ports]
    try:
        wait_until(lambda: all(healthy(p) for p in ports), timeout=30)
        running = wait_until(lambda: [r for r in store.list_runs(job_id=job_id, limit=100)
                                      if r.life_cycle_state == "RUNNING"], timeout=40)[0]
        # While it runs, later ticks are skipped: the job allows one active run.
        wait_until(lambda: any("already has 1 active run" in (r.state_message or "")
                               for r in store.list_runs(job_id=job_id, limit=100)), timeout=30)
        owner = next(p for p in procs if p.pid == running.owner_pid)
        survivor = next(p for p in procs if p is not owner)
        stop(owner, signal.SIGKILL)
        gate.touch()  # runs after the dead one can finish
        dead = wait_until(lambda: (r := store.get_run(running.run_id)).life_cycle_state != "RUNNING" and r,
                          timeout=30)
        assert (dead.life_cycle_state, dead.result_state, dead.termination_code) == (
            "INTERNAL_ERROR", "FAILED", "DRIVER_ERROR")
        # The schedule goes on in the surviving process: a later tick runs (not SKIPPED) and succeeds.
        later = wait_until(lambda: [r for r in store.list_runs(job_id=job_id, limit=200)
                                    if r.run_id > dead.run_id and r.result_state == "SUCCESS"], timeout=30)
        assert later[0].owner_pid == survivor.pid
        assert survivor.poll() is None
    finally:
        for p in procs:
            stop(p, signal.SIGKILL)
    store.close()
