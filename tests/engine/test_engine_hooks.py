"""Lifecycle and governance hooks are called as their hookspecs promise."""
from __future__ import annotations

import threading
from typing import Any

import pytest
from harness import task

from lakeloom import hookimpl
from lakeloom.plugin_manager import build_plugin_manager


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


def test_failing_before_task_hook_fails_the_attempt(make_harness: Any) -> None:
    class Veto:
        @hookimpl
        def lakeloom_before_task(self, ctx: Any) -> None:
            if ctx.task_key == "guarded":
                raise PermissionError("not today")

    h = make_harness(extra_plugins=(Veto(),))
    run = h.run([task("guarded"), task("free")])
    states = {t["task_key"]: t["state"] for t in run["tasks"]}
    assert states["guarded"]["result_state"] == "FAILED"
    assert "PermissionError: not today" in states["guarded"]["state_message"]
    assert states["free"]["result_state"] == "SUCCESS"


def test_broken_after_run_observer_does_not_change_the_result(make_harness: Any) -> None:
    class Broken:
        @hookimpl
        def lakeloom_after_run(self, run: dict[str, Any], job: Any) -> None:
            raise RuntimeError("observer bug")

    h = make_harness(extra_plugins=(Broken(),))
    assert h.run([task("a")])["state"]["result_state"] == "SUCCESS"


def test_authorize_is_firstresult() -> None:
    class Abstains:
        @hookimpl
        def lakeloom_authorize(self, principal: str, privilege: str, securable: str) -> None:
            return None

    class Denies:
        @hookimpl
        def lakeloom_authorize(self, principal: str, privilege: str, securable: str) -> bool:
            return principal != "admin"

    pm = build_plugin_manager(extra_plugins=(Denies(), Abstains()))
    assert pm.hook.lakeloom_authorize(principal="bob", privilege="SELECT", securable="main.s.t") is True
    assert pm.hook.lakeloom_authorize(principal="admin", privilege="SELECT", securable="main.s.t") is False
    assert build_plugin_manager().hook.lakeloom_authorize(
        principal="bob", privilege="SELECT", securable="main.s.t") is None


@pytest.mark.spark
def test_spark_conf_hook_feeds_the_session_provider(make_harness: Any, spark: Any) -> None:
    class NeedsConf:
        @hookimpl
        def lakeloom_spark_conf(self, workspace: Any) -> dict[str, str]:
            return {"spark.lakeloom.test.plugin": str(workspace.root)}

    h = make_harness(extra_plugins=(NeedsConf(),))
    assert h.engine.spark() is spark  # the pytest session's session is reused, never a second one
    assert h.engine.spark_provider.plugin_conf == {"spark.lakeloom.test.plugin": str(h.workspace.root)}
    assert h.engine.spark_provider.conf()["spark.lakeloom.test.plugin"] == str(h.workspace.root)
