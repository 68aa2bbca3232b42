"""Lifecycle hooks are called in order and a broken observer changes nothing (one test per
hook, each with its effect, is in tests/test_hookspecs.py)."""
from __future__ import annotations

import threading
from typing import Any

from harness import task

from lakeloom import hookimpl


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.coordinator_threads: set[str] = set()

    @hookimpl
    def lakeloom_before_run(self, run: dict[str, Any], job: Any) -> None:
        self.calls.append(("before_run", run["state"]["life_cycle_state"], job.name))
        self.coordinator_threads.add(threading.current_thread().name)

    @hookimpl
    def lakeloom_after_run(self, run: dict[str, Any], job: Any) -> None:
        self.calls.append(("after_run", run["state"]["result_state"], len(run["tasks"])))

    @hookimpl
    def lakeloom_before_task(self, ctx: Any) -> None:
        self.calls.append(("before_task", ctx.task_key, ctx.attempt_number))

    @hookimpl
    def lakeloom_after_task(self, ctx: Any, output: Any, result_state: str) -> None:
        self.calls.append(("after_task", ctx.task_key, result_state))

    @hookimpl
    def lakeloom_on_task_error(self, ctx: Any, error: BaseException) -> None:
        self.calls.append(("on_task_error", ctx.task_key, type(error).__name__))


def test_lifecycle_hooks_in_order(make_harness: Any) -> None:
    rec = Recorder()
    h = make_harness(extra_plugins=(rec,))
    run = h.run([task("a"), task("b", "fail", deps=["a"], max_retries=1)])
    assert run["state"]["result_state"] == "FAILED"
    assert rec.calls[0] == ("before_run", "RUNNING", "test-job")
    assert rec.calls[1:3] == [("before_task", "a", 0), ("after_task", "a", "SUCCESS")]
    assert rec.calls[3:9] == [
        ("before_task", "b", 0), ("on_task_error", "b", "DataError"), ("after_task", "b", "FAILED"),
        ("before_task", "b", 1), ("on_task_error", "b", "DataError"), ("after_task", "b", "FAILED"),
    ]
    assert rec.calls[-1] == ("after_run", "FAILED", 3)


def test_broken_after_run_observer_does_not_change_the_result(make_harness: Any) -> None:
    class Broken:
        @hookimpl
        def lakeloom_after_run(self, run: dict[str, Any], job: Any) -> None:
            raise RuntimeError("observer bug")

    h = make_harness(extra_plugins=(Broken(),))
    assert h.run([task("a")])["state"]["result_state"] == "SUCCESS"


def test_a_broken_observer_does_not_keep_the_others_from_the_event(make_harness: Any) -> None:
    """pluggy stops at the first implementation that raises; the engine calls each on its own,
    so per-run state of other plugins (the ML plugin's default registry) is released."""
    class Broken:
        @hookimpl
        def lakeloom_before_run(self, run: dict[str, Any], job: Any) -> None:
            raise RuntimeError("observer bug")

        @hookimpl
        def lakeloom_after_run(self, run: dict[str, Any], job: Any) -> None:
            raise RuntimeError("observer bug")

        @hookimpl
        def lakeloom_after_task(self, ctx: Any, output: Any, result_state: str) -> None:
            raise RuntimeError("observer bug")

    rec = Recorder()
    h = make_harness(extra_plugins=(rec, Broken()))  # registered last: pluggy calls it first
    assert h.run([task("a")])["state"]["result_state"] == "SUCCESS"
    assert [c[0] for c in rec.calls] == ["before_run", "before_task", "after_task", "after_run"]
