"""A third-party plugin adds a trigger kind through ``lakeloom_triggers``; the scheduler
drives it like the built-in ones (state persisted, fires claimed once)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from serving import make_workspace, wait_until

from lakeloom import hookimpl
from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.engine.executor import RunExecutor
from lakeloom.plugin_api import Decision, Fire, TriggerKind
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.scheduler.clock import ManualClock
from lakeloom.scheduler.loop import Scheduler
from lakeloom.store.records import RunRecord


class BellKind:
    """Fires once per line appended to the file named by the job's ``bell`` tag."""

    key = "bell"

    def settings_of(self, job: Any) -> Any | None:
        return job.tags.get("bell")

    def paused(self, job: Any) -> bool:
        return job.tags.get("bell_paused") == "true"

    def evaluate(self, env: Any, entry: Any, state: dict[str, Any] | None, now_ms: int) -> Decision:
        path = env.local_path(entry.settings)
        rings = path.read_text().count("\n") if path.exists() else 0
        seen = (state or {}).get("rings", rings if state is None else 0)
        fire = Fire("ONE_TIME", {"bell": {"rings": rings}}) if rings > seen else None
        return Decision(fire=fire, state={"rings": rings}, next_check_ms=now_ms + 1000)


class BellPlugin:
    @hookimpl
    def lakeloom_triggers(self) -> list[TriggerKind]:
        return [BellKind()]


def test_third_party_trigger_kind_fires_once_per_event(tmp_path: Path) -> None:
    ws = load_workspace(make_workspace(tmp_path / "ws"))
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins, extra_plugins=(BellPlugin(),)))
    executor = RunExecutor(engine, per_run_spark=False)
    clock = ManualClock(1_700_000_000_000)
    sched = Scheduler(executor, clock=clock, poll_seconds=1, refresh_seconds=0)
    assert "bell" in {k.key for k in sched.kinds}
    bell = tmp_path / "ws" / "bell.txt"
    job_id = engine.store.create_job("rung", {
        "name": "rung", "tags": {"bell": "bell.txt"},
        "tasks": [{"task_key": "t", "python_task": {"function": "sv_tasks:ok"}}]}, creator="tester").job_id

    def step() -> list[RunRecord]:
        clock.advance(2)
        sched.tick()
        wait_until(lambda: not executor.active_run_ids(), timeout=30)
        return engine.store.list_runs(job_id=job_id, limit=100)

    assert step() == []  # first sight records the state; nothing has rung yet
    bell.write_text("ding\n")
    runs = step()
    assert len(runs) == 1 and runs[0].result_state == "SUCCESS"
    assert step() == runs  # no new ring, no new run
    # A second scheduler (as another `serve` process would be) does not re-fire the old ring.
    other = Scheduler(executor, clock=clock, poll_seconds=1, refresh_seconds=0,
                      kinds=[BellKind()])
    other.tick()
    wait_until(lambda: not executor.active_run_ids(), timeout=30)
    assert len(engine.store.list_runs(job_id=job_id, limit=100)) == 1
    engine.store.close()
