"""Plugin state is per run (held in the run's stash): two runs driven by one process at the
same time never see each other's, in a third-party plugin or in the notification plugin."""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / "engine"), str(TESTS / "server")]

from harness import Harness, task, wait_until  # noqa: E402
from serving import HttpReceiver  # noqa: E402

from lakeloom import hookimpl  # noqa: E402
from lakeloom.engine.executor import RunExecutor  # noqa: E402
from lakeloom.plugin_api import RunView, StashKey, TaskContext, TaskOutput  # noqa: E402
from lakeloom.plugins.notify.notifications import flush_all  # noqa: E402
from lakeloom.spec.models import Job  # noqa: E402

FINISHED_TASKS = StashKey[list[str]]()


class Tally:
    """Counts each run's finished tasks in the run's stash, reports them when the run ends."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[str]] = {}

    @hookimpl
    def lakeloom_before_run(self, run: dict[str, Any], job: Job, handle: RunView) -> None:
        handle.stash[FINISHED_TASKS] = []

    @hookimpl
    def lakeloom_after_task(self, ctx: TaskContext, output: TaskOutput, result_state: str) -> None:
        ctx.run.stash[FINISHED_TASKS].append(ctx.task_key)

    @hookimpl
    def lakeloom_after_run(self, run: dict[str, Any], job: Job, handle: RunView) -> None:
        self.by_run[run["run_name"]] = sorted(handle.stash[FINISHED_TASKS])


def _running(h: Harness, run_id: int, key: str) -> bool:
    return any(r.task_key == key and r.life_cycle_state == "RUNNING" for r in h.store.task_runs(run_id))


def test_concurrent_runs_of_one_executor_keep_separate_stashes(tmp_path: Path) -> None:
    tally = Tally()
    h = Harness(tmp_path / "ws", extra_plugins=(tally,))
    executor = RunExecutor(h.engine, per_run_spark=False)
    gate = tmp_path / "gate"
    slow = h.store.create_job("slow", {"name": "slow", "tasks": [
        task("w", "wait_for_file", params={"path": str(gate)}), task("x", deps=["w"])]}, creator="t")
    quick = h.store.create_job("quick", {"name": "quick", "tasks": [task("y1"), task("y2"), task("y3")]},
                               creator="t")
    first = executor.start(slow).run_id
    wait_until(lambda: _running(h, first, "w"))
    executor.start(quick)
    wait_until(lambda: "quick" in tally.by_run, timeout=30)  # ends while "slow" is still running
    gate.write_text("go")
    wait_until(lambda: not executor.active_run_ids(), timeout=30)
    assert tally.by_run == {"quick": ["y1", "y2", "y3"], "slow": ["w", "x"]}
    h.close()


def test_notification_state_of_one_run_is_not_seen_by_another(tmp_path: Path) -> None:
    """Two stores in one process number their runs alike: state keyed by run id would let the
    second run replace (and on its end drop) the first run's, silencing its task alerts."""
    receivers = {"a": HttpReceiver(), "b": HttpReceiver()}
    notify = {"on_start": [{"id": "hook"}], "on_success": [{"id": "hook"}]}
    harnesses = {name: Harness(tmp_path / name, conf={"notifications": {"destinations": {
        "hook": {"type": "webhook", "url": f"{recv.url}/{name}"}}}}) for name, recv in receivers.items()}
    a, b = harnesses["a"], harnesses["b"]
    gate = tmp_path / "gate"
    job_a = a.job([task("wait", "wait_for_file", params={"path": str(gate)}),
                   task("after", deps=["wait"], webhook_notifications=notify)],
                  name="job-a", webhook_notifications={"on_success": [{"id": "hook"}]})
    finished: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: finished.update(a.engine.submit(str(job_a))))
    thread.start()
    wait_until(lambda: a.store.list_runs(limit=1) and _running(a, a.store.list_runs(limit=1)[0].run_id, "wait"))
    run_b = b.run([task("b1", webhook_notifications=notify)], name="job-b",
                  webhook_notifications={"on_success": [{"id": "hook"}]})
    gate.write_text("go")
    thread.join(60)
    assert finished["run_id"] == run_b["run_id"]  # the collision the per-run stash makes harmless
    assert finished["state"]["result_state"] == run_b["state"]["result_state"] == "SUCCESS"
    flush_all(20)

    def events(name: str) -> list[tuple[str, str, str | None]]:
        return sorted(((n["event_type"], n["job_name"], n["task_key"]) for n in receivers[name].json_bodies()),
                      key=str)

    assert events("a") == sorted([("jobs.on_start", "job-a", "after"), ("jobs.on_success", "job-a", None),
                                  ("jobs.on_success", "job-a", "after")], key=str)
    assert events("b") == sorted([("jobs.on_start", "job-b", "b1"), ("jobs.on_success", "job-b", None),
                                  ("jobs.on_success", "job-b", "b1")], key=str)
    for h in harnesses.values():
        h.close()
    for recv in receivers.values():
        recv.close()
