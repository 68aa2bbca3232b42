"""The scheduler on an injectable clock: cron (catch-up, DST), periodic, pause, concurrency and
queue, file arrival with real files, continuous. Runs are real (python_task) runs."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.engine.executor import RunExecutor
from lakeloom.scheduler.clock import ManualClock
from lakeloom.scheduler.loop import Scheduler
from lakeloom.spec.cron import CronSchedule, ms
from serving import make_workspace, wait_until


def at(*args: int) -> int:
    return ms(datetime(*args, tzinfo=timezone.utc))  # type: ignore[arg-type]


def py(key: str, fn: str = "ok", **params: Any) -> dict[str, Any]:
    return {"task_key": key, "python_task": {"function": f"sv_tasks:{fn}", "parameters": params}}


class World:
    def __init__(self, root: Path, start_ms: int) -> None:
        self.ws = load_workspace(make_workspace(root))
        self.engine = Engine.open(self.ws)
        self.store = self.engine.store
        self.executor = RunExecutor(self.engine, per_run_spark=False)
        self.clock = ManualClock(start_ms)
        self.sched = Scheduler(self.executor, clock=self.clock, poll_seconds=5, refresh_seconds=0)

    def job(self, name: str, tasks: list[dict[str, Any]] | None = None, **fields: Any) -> int:
        settings = {"name": name, "tasks": tasks or [py("t")], **fields}
        return self.store.create_job(name, settings, creator="tester").job_id

    def tick(self, advance: float = 0.0) -> None:
        self.clock.advance(advance)
        self.sched.tick()
        self.settle()

    def settle(self) -> None:
        wait_until(lambda: not self.executor.active_run_ids(), timeout=30)

    def runs(self, job_id: int) -> list[dict[str, Any]]:
        return sorted(self.store.list_runs(job_id=job_id, limit=1000), key=lambda r: r.run_id)

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "ws", at(2024, 3, 1, 12, 0, 0))
    yield w
    w.close()


def test_cron_fires_each_tick_once_with_its_scheduled_time(world: World) -> None:
    job = world.job("every-minute", schedule={"quartz_cron_expression": "0 * * * * ?", "timezone_id": "UTC"})
    world.tick()  # first sight: no fire for ticks before the job was seen
    world.tick(30)
    assert world.runs(job) == []
    world.tick(30)  # 12:01:00
    world.tick(1)
    runs = world.runs(job)
    assert len(runs) == 1 and runs[0].trigger_type == "PERIODIC"
    assert runs[0].trigger_info["time"] == at(2024, 3, 1, 12, 1, 0)
    assert runs[0].result_state == "SUCCESS" and runs[0].run_as == "tester"
    # A second scheduler on the same store sees the tick already claimed.
    other = Scheduler(world.executor, clock=world.clock, poll_seconds=5, refresh_seconds=0)
    other.tick()
    world.settle()
    assert len(world.runs(job)) == 1
    assert [t["scheduled_time"] for t in world.store.ticks(job)] == [at(2024, 3, 1, 12, 1, 0)]


def test_missed_ticks_catch_up_once_with_the_latest(world: World) -> None:
    job = world.job("catch-up", schedule={"quartz_cron_expression": "0 */5 * * * ?", "timezone_id": "UTC"})
    world.tick()
    world.tick(3600)  # an hour of downtime: 12 ticks missed
    runs = world.runs(job)
    assert len(runs) == 1
    assert runs[0].trigger_info["time"] == at(2024, 3, 1, 13, 0, 0)
    world.tick(60)
    assert len(world.runs(job)) == 1


def test_dst_spring_forward_and_fall_back() -> None:
    ny = "America/New_York"
    skipped = CronSchedule("0 30 2 * * ?", ny)  # 02:30 does not exist on 2024-03-10
    fire = skipped.next_after(datetime(2024, 3, 10, 0, 0, tzinfo=timezone.utc))
    assert fire == datetime(2024, 3, 10, 7, 0, tzinfo=timezone.utc)  # 03:00 EDT, the end of the gap
    assert skipped.next_after(fire) == datetime(2024, 3, 11, 6, 30, tzinfo=timezone.utc)
    repeated = CronSchedule("0 30 1 * * ?", ny)  # 01:30 happens twice on 2024-11-03
    first = repeated.next_after(datetime(2024, 11, 3, 0, 0, tzinfo=timezone.utc))
    assert first == datetime(2024, 11, 3, 5, 30, tzinfo=timezone.utc)  # the first (EDT) occurrence only
    assert repeated.next_after(first) == datetime(2024, 11, 4, 6, 30, tzinfo=timezone.utc)
    quarter = CronSchedule("0 */15 2 * * ?", ny)  # four ticks in the gap collapse into one fire
    after = datetime(2024, 3, 10, 6, 0, tzinfo=timezone.utc)
    assert quarter.next_after(after) == datetime(2024, 3, 10, 7, 0, tzinfo=timezone.utc)
    assert quarter.next_after(datetime(2024, 3, 10, 7, 0, tzinfo=timezone.utc)).day == 11


def test_quartz_syntax() -> None:
    utc = timezone.utc
    start = datetime(2024, 3, 1, tzinfo=utc)
    assert CronSchedule("0 0 12 ? * 6#2").next_after(start) == datetime(2024, 3, 8, 12, tzinfo=utc)  # 2nd Friday
    assert CronSchedule("0 0 12 ? * 6L").next_after(start) == datetime(2024, 3, 29, 12, tzinfo=utc)  # last Friday
    assert CronSchedule("0 0 12 LW * ?").next_after(start) == datetime(2024, 3, 29, 12, tzinfo=utc)
    assert CronSchedule("0 0 12 L-2 * ?").next_after(start) == datetime(2024, 3, 29, 12, tzinfo=utc)
    assert CronSchedule("0 0 12 16W * ?").next_after(start) == datetime(2024, 3, 15, 12, tzinfo=utc)  # Sat -> Fri
    assert CronSchedule("0 0 12 ? * MON-FRI").next_after(datetime(2024, 3, 1, 13, tzinfo=utc)).day == 4
    assert CronSchedule("*/10 * * * * ?").next_after(start) == datetime(2024, 3, 1, 0, 0, 10, tzinfo=utc)
    assert CronSchedule("0 0 0 1 1 ? 2026").next_after(start) == datetime(2026, 1, 1, tzinfo=utc)
    assert CronSchedule("15 10 * * *").next_after(start) == datetime(2024, 3, 1, 10, 15, tzinfo=utc)  # 5-field
    from lakeloom.spec.cron import CronError

    for bad in ("0 0 12 1 * MON", "* * *", "0 0 25 * * ?", "0 0 12 ? * 8"):
        with pytest.raises(CronError):
            CronSchedule(bad)
    with pytest.raises(CronError, match="timezone"):
        CronSchedule("0 0 12 * * ?", "Mars/Olympus")


def test_periodic_and_pause(world: World) -> None:
    job = world.job("hourly", trigger={"periodic": {"interval": 1, "unit": "HOURS"}})
    world.tick()
    world.tick(1800)
    assert world.runs(job) == []
    world.tick(1800)
    assert len(world.runs(job)) == 1
    world.store.set_pause(job, "PAUSED")
    world.tick(3600)  # the tick while paused is skipped for good
    assert len(world.runs(job)) == 1
    world.store.set_pause(job, "UNPAUSED")
    world.tick(60)
    assert len(world.runs(job)) == 1
    world.tick(3600)
    runs = world.runs(job)
    assert len(runs) == 2
    assert runs[1].trigger_info["time"] == at(2024, 3, 1, 15, 0, 0)


def test_max_concurrent_runs_skip_and_queue(world: World, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    cron = {"quartz_cron_expression": "0 * * * * ?", "timezone_id": "UTC"}
    skip = world.job("skip", [py("w", "wait_file", path=str(gate))], schedule=cron)
    queue = world.job("queue", [py("w", "wait_file", path=str(gate))], schedule=cron, queue={"enabled": True})
    world.sched.tick()
    for _ in range(2):
        world.clock.advance(60)
        world.sched.tick()
    wait_until(lambda: world.store.active_run_count(skip) == 1 and world.store.active_run_count(queue) == 1)
    states = {j: [(r.life_cycle_state, r.result_state) for r in world.runs(j)] for j in (skip, queue)}
    assert states[skip][1] == ("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED")
    assert states[queue][1] == ("QUEUED", None)
    gate.touch()
    world.settle()
    wait_until(lambda: all(r.result_state for r in world.runs(queue)))
    world.settle()
    assert [r.result_state for r in world.runs(queue)] == ["SUCCESS", "SUCCESS"]


def test_file_arrival_with_real_files(world: World, tmp_path: Path) -> None:
    landing = world.ws.volumes_root / "main" / "raw" / "landing"
    (landing / "old").mkdir(parents=True)
    (landing / "old" / "before.csv").write_text("a\n")
    job = world.job("files", trigger={"file_arrival": {
        "url": "/Volumes/main/raw/landing/", "wait_after_last_change_seconds": 60,
        "min_time_between_triggers_seconds": 300}})
    world.tick()
    world.tick(10)
    assert world.runs(job) == []  # files present before the job was seen never fire
    (landing / "day1").mkdir()
    (landing / "day1" / "orders.csv").write_text("1\n")
    world.tick(10)
    assert world.runs(job) == []  # waiting for 60 s without changes
    world.tick(61)
    runs = world.runs(job)
    assert len(runs) == 1 and runs[0].trigger_type == "FILE_ARRIVAL"
    info = runs[0].trigger_info["file_arrival"]
    assert info["location"] == "/Volumes/main/raw/landing/" and info["new_files"] == ["day1/orders.csv"]
    (landing / "day1" / "more.csv").write_text("2\n")
    world.tick(61)
    assert len(world.runs(job)) == 1  # min_time_between_triggers_seconds
    # A restarted scheduler (new process) keeps the persisted state: nothing old fires again.
    world.sched = Scheduler(world.executor, clock=world.clock, poll_seconds=5, refresh_seconds=0)
    world.tick(240)
    runs = world.runs(job)
    assert len(runs) == 2
    assert runs[1].trigger_info["file_arrival"]["new_files"] == ["day1/more.csv"]
    world.tick(600)
    assert len(world.runs(job)) == 2


def test_continuous_restarts_after_each_run_and_backs_off(world: World) -> None:
    job = world.job("forever", [py("t")], continuous={"pause_status": "UNPAUSED"})
    for _ in range(3):
        world.tick(0.1)
    runs = world.runs(job)
    assert len(runs) == 3 and {r.trigger_type for r in runs} == {"CONTINUOUS"}
    world.store.set_pause(job, "PAUSED")
    world.tick(10)
    assert len(world.runs(job)) == 3
    failing = world.job("flaky", [py("t", "fail")], continuous={"pause_status": "UNPAUSED"})
    world.tick(0.1)
    world.tick(0.1)
    assert len(world.runs(failing)) == 1  # backing off after a failure
    world.tick(1.5)
    assert len(world.runs(failing)) == 2
