"""Continuous jobs with ``continuous: {task_retry_mode: ON_FAILURE}``: a failed task is retried
inside the run while another task is still running its first attempt (Databricks' rule); a
run that still ends FAILED is repaired in place (only its failed tasks rerun, after the
failure backoff, on the injectable clock) up to ``server.continuous_repairs`` times before
a fresh run starts. ``NEVER`` does neither. Runs are real python_task runs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from serving import wait_until
from test_scheduler import World, at, py


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "ws", at(2024, 3, 1, 12, 0, 0))
    yield w
    w.close()


def flaky_job(world: World, name: str, gate: Path, mode: str) -> int:
    """Task ``a`` always succeeds; ``b`` (after ``a``) fails until ``gate`` exists."""
    return world.job(name, [py("a"), {**py("b", "wait_file", path=str(gate), timeout=0),
                                      "depends_on": [{"task_key": "a"}]}],
                     continuous={"pause_status": "UNPAUSED", "task_retry_mode": mode})


def attempts(world: World, run_id: int) -> dict[str, list[str]]:
    """Result state of every attempt of each task of a run, in attempt order."""
    rows = sorted(world.store.task_runs(run_id), key=lambda r: (r.task_key, r.attempt_number))
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r.task_key, []).append(r.result_state)
    return out


def test_on_failure_repairs_the_failed_run_instead_of_starting_a_new_one(world: World, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = flaky_job(world, "stream", gate, "ON_FAILURE")
    world.tick()
    runs = world.runs(job)
    assert [(r.trigger_type, r.result_state) for r in runs] == [("CONTINUOUS", "FAILED")]
    first = int(runs[0].run_id)
    world.tick(0.1)
    assert len(world.runs(job)) == 1 and world.runs(job)[0].repair_count == 0  # backing off (1 s)
    world.tick(1.5)
    runs = world.runs(job)
    assert len(runs) == 1 and runs[0].repair_count == 1 and runs[0].result_state == "FAILED"
    assert attempts(world, first) == {"a": ["SUCCESS"], "b": ["FAILED", "FAILED"]}  # only b reran
    gate.touch()
    world.tick(0.1)
    assert world.runs(job)[0].repair_count == 1  # the second failure backs off longer (2 s)
    world.tick(2.5)
    runs = world.runs(job)
    assert len(runs) == 1 and runs[0].repair_count == 2 and runs[0].result_state == "SUCCESS"
    assert attempts(world, first) == {"a": ["SUCCESS"], "b": ["FAILED", "FAILED", "SUCCESS"]}
    assert [r.result_state for r in world.store.repairs(first)] == ["FAILED", "SUCCESS"]
    world.tick(0.1)  # the repaired run succeeded: the next run starts at once
    runs = world.runs(job)
    assert [(r.trigger_type, r.result_state, r.repair_count) for r in runs] == [
        ("CONTINUOUS", "SUCCESS", 2), ("CONTINUOUS", "SUCCESS", 0)]


def test_on_failure_starts_a_new_run_after_the_repair_budget(world: World, tmp_path: Path) -> None:
    world.ws.settings.setdefault("server", {})["continuous_repairs"] = 1
    job = flaky_job(world, "stubborn", tmp_path / "never", "ON_FAILURE")
    world.tick()
    world.tick(0.1)
    world.tick(1.5)  # repair 1 of 1
    runs = world.runs(job)
    assert len(runs) == 1 and runs[0].repair_count == 1
    world.tick(0.1)
    world.tick(2.5)  # budget spent: a fresh run, not a second repair
    runs = world.runs(job)
    assert [(r.result_state, r.repair_count) for r in runs] == [("FAILED", 1), ("FAILED", 0)]
    assert attempts(world, int(runs[1].run_id)) == {"a": ["SUCCESS"], "b": ["FAILED"]}


def test_never_mode_starts_a_new_run_after_a_failure(world: World, tmp_path: Path) -> None:
    job = flaky_job(world, "plain", tmp_path / "never", "NEVER")
    world.tick()
    world.tick(0.1)
    world.tick(1.5)
    runs = world.runs(job)
    assert [(r.result_state, r.repair_count) for r in runs] == [("FAILED", 0), ("FAILED", 0)]
    assert all(attempts(world, int(r.run_id)) == {"a": ["SUCCESS"], "b": ["FAILED"]} for r in runs)


def stream_job(world: World, name: str, release: Path, ok: Path, mode: str) -> int:
    """``stream`` runs until ``release`` exists; ``flaky`` (independent) fails until ``ok`` exists."""
    return world.job(name, [py("stream", "wait_file", path=str(release), timeout=60),
                            py("flaky", "wait_file", path=str(ok), timeout=0)],
                     continuous={"pause_status": "UNPAUSED", "task_retry_mode": mode})


def start_and_wait_for_first_failure(world: World, job: int) -> int:
    """Fire the continuous job once; return its run id once ``flaky`` failed its first attempt."""
    world.sched.tick()
    run_id = int(wait_until(lambda: world.runs(job), timeout=20)[0].run_id)
    wait_until(lambda: attempts(world, run_id).get("flaky", [None])[0] == "FAILED", timeout=20)
    return run_id


def test_on_failure_retries_a_task_in_the_run_while_another_task_still_runs(world: World, tmp_path: Path) -> None:
    release, ok = tmp_path / "release", tmp_path / "ok"
    job = stream_job(world, "streams", release, ok, "ON_FAILURE")
    run_id = start_and_wait_for_first_failure(world, job)
    ok.touch()
    try:  # retried (after a 1 s backoff) while `stream` is still on its first attempt
        wait_until(lambda: attempts(world, run_id)["flaky"] == ["FAILED", "SUCCESS"], timeout=20)
        assert attempts(world, run_id)["stream"] == [None]  # still running: the run was not restarted
    finally:
        release.touch()
        world.settle()
    runs = world.runs(job)
    assert [(r.result_state, r.repair_count) for r in runs] == [("SUCCESS", 0)]
    assert attempts(world, run_id) == {"flaky": ["FAILED", "SUCCESS"], "stream": ["SUCCESS"]}


def test_never_mode_does_not_retry_a_task_in_the_run(world: World, tmp_path: Path) -> None:
    release, ok = tmp_path / "release", tmp_path / "ok"
    job = stream_job(world, "streams-never", release, ok, "NEVER")
    run_id = start_and_wait_for_first_failure(world, job)
    release.touch()
    world.settle()
    assert [r.result_state for r in world.runs(job)] == ["FAILED"]
    assert attempts(world, run_id) == {"flaky": ["FAILED"], "stream": ["SUCCESS"]}


def deploy(world: World, path: Path, tasks: list[dict[str, Any]], **fields: Any) -> int:
    """Write a job file and record it as deployed from that file (like ``lakeloom deploy``)."""
    settings = {"name": path.stem, "tasks": tasks, **fields}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return world.store.upsert_job(path.stem, settings, str(path), deployed=True, creator="tester")


def test_a_repair_that_cannot_start_falls_back_to_a_new_run(world: World, tmp_path: Path) -> None:
    source = world.ws.root / "jobs" / "ingest.yml"
    continuous = {"pause_status": "UNPAUSED", "task_retry_mode": "ON_FAILURE"}
    job = deploy(world, source, [py("a"), {**py("b", "fail"), "depends_on": [{"task_key": "a"}]}],
                 continuous=continuous)
    world.tick()
    assert [r.result_state for r in world.runs(job)] == ["FAILED"]
    # The user fixes the job by dropping the failing task: the failed run has nothing left to repair.
    assert deploy(world, source, [py("a")], continuous=continuous) == job
    world.tick(0.1)
    world.tick(1.5)
    runs = world.runs(job)
    assert [(r.trigger_type, r.result_state, r.repair_count) for r in runs] == [
        ("CONTINUOUS", "FAILED", 0), ("CONTINUOUS", "SUCCESS", 0)]
    assert attempts(world, int(runs[1].run_id)) == {"a": ["SUCCESS"]}
    world.tick(0.1)
    assert len(world.runs(job)) == 3  # and the job keeps running
