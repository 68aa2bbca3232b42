"""One ``test_hook_<name>`` per hookspec (datasette's rule, checked by ``test_meta``): each
registers a plugin implementing the hook and observes what the hook changes."""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))

from harness import Harness, task, wait_until  # noqa: E402

from lakeloom import hookimpl  # noqa: E402
from lakeloom.engine.executor import RunExecutor  # noqa: E402
from lakeloom.engine.registry import workspace_jobs  # noqa: E402
from lakeloom.plugin_api import (Decision, DeliveryError, Fire, Notification, Notifier, RunView,  # noqa: E402
                                 StashKey, TaskContext, TaskOutput, TaskType, TriggerKind)
from lakeloom.plugin_manager import build_plugin_manager  # noqa: E402
from lakeloom.plugins.notify.notifications import flush_all  # noqa: E402
from lakeloom.scheduler.clock import ManualClock  # noqa: E402
from lakeloom.scheduler.loop import Scheduler  # noqa: E402
from lakeloom.spec.models import Job  # noqa: E402

OPENED = StashKey[str]()
STARTED_AT = StashKey[int]()


def _outputs(h: Harness, run_id: int) -> dict[str, Any]:
    return {r.task_key: r.output for r in h.task_rows(run_id)}


# --- registration ---------------------------------------------------------------------

def test_hook_lakeloom_task_types(tmp_path: Path) -> None:
    class Greeting(BaseModel):
        name: str

    def greet(ctx: TaskContext, settings: Greeting) -> TaskOutput:
        return TaskOutput(output={"greeting": f"hello {settings.name} from {ctx.task_key}"})

    class GreetPlugin:
        @hookimpl
        def lakeloom_task_types(self) -> list[TaskType]:
            return [TaskType(key="greet_task", settings_model=Greeting, run=greet)]

    h = Harness(tmp_path, extra_plugins=(GreetPlugin(),))
    run = h.run([{"task_key": "hi", "greet_task": {"name": "{{job.parameters.who}}"}}],
                parameters=[{"name": "who", "default": "ada"}])
    assert run["state"]["result_state"] == "SUCCESS"
    assert _outputs(h, run["run_id"])["hi"] == {"greeting": "hello ada from hi"}
    assert h.engine.pm.owner_of("greet_task") is not None
    h.close()


def test_hook_lakeloom_triggers(tmp_path: Path) -> None:
    class OnceKind:
        """Fires a single run the first time it sees a job tagged ``once``."""

        key = "once"

        def settings_of(self, job: Job) -> Any | None:
            return job.tags.get("once")

        def paused(self, job: Job) -> bool:
            return False

        def evaluate(self, env: Any, entry: Any, state: dict[str, Any] | None, now_ms: int) -> Decision:
            if state:
                return Decision()
            return Decision(fire=Fire("ONE_TIME", {"once": entry.settings}), state={"fired": now_ms})

    class OncePlugin:
        @hookimpl
        def lakeloom_triggers(self) -> list[TriggerKind]:
            return [OnceKind()]

    h = Harness(tmp_path, extra_plugins=(OncePlugin(),))
    executor = RunExecutor(h.engine, per_run_spark=False)
    sched = Scheduler(executor, clock=ManualClock(1_700_000_000_000), poll_seconds=1, refresh_seconds=0)
    job_id = h.store.create_job("tagged", {"name": "tagged", "tags": {"once": "yes"},
                                           "tasks": [task("t")]}, creator="tester").job_id
    for _ in range(2):
        sched.tick()
        wait_until(lambda: not executor.active_run_ids(), timeout=30)
    (run,) = h.store.list_runs(job_id=job_id, limit=10)
    assert run.result_state == "SUCCESS"
    h.close()


def test_hook_lakeloom_notifiers(tmp_path: Path) -> None:
    class Pager:
        key = "pager"

        def __init__(self) -> None:
            self.pages: list[tuple[str, str]] = []

        def send(self, note: Notification, destination: dict[str, Any], workspace: Any) -> int | None:
            if destination.get("broken"):
                raise DeliveryError("pager offline", retryable=False)
            self.pages.append((destination["team"], note.title))
            return None

    class PagerPlugin:
        def __init__(self) -> None:
            self.pager = Pager()

        @hookimpl
        def lakeloom_notifiers(self) -> list[Notifier]:
            return [self.pager]

    plugin = PagerPlugin()
    h = Harness(tmp_path, conf={"notifications": {"destinations": {
        "ops": {"type": "pager", "team": "ops"}, "dead": {"type": "pager", "broken": True}}}},
        extra_plugins=(plugin,))
    run = h.run([task("a")], name="paged", webhook_notifications={"on_success": [{"id": "ops"}, {"id": "dead"}]})
    flush_all(20)
    assert plugin.pager.pages == [("ops", f"[lakeloom] Run {run['run_id']} of job paged succeeded")]
    failed = [d for d in h.store.deliveries(run["run_id"]) if d["status"] == "FAILED"]
    assert [d["error"] for d in failed] == ["pager offline"]
    h.close()


def test_hook_lakeloom_jobs(tmp_path: Path) -> None:
    class Package:
        @hookimpl
        def lakeloom_jobs(self, workspace: Any) -> list[tuple[Job, str]]:
            job = Job.model_validate({"name": "from_package", "tasks": [task("t", "echo", params={"x": "1"})]})
            return [(job, str(tmp_path / "pkg" / "module.py"))]

    h = Harness(tmp_path / "ws", extra_plugins=(Package(),))
    listed = {d.job.name: src for d, src, _ in workspace_jobs(h.workspace, h.engine.pm) if d}
    assert listed["from_package"] == str(tmp_path / "pkg" / "module.py")
    run = h.engine.submit("from_package")
    assert run["state"]["result_state"] == "SUCCESS" and _outputs(h, run["run_id"])["t"] == {"result": {"x": "1"}}
    h.close()


@pytest.mark.spark
def test_hook_lakeloom_spark_conf(tmp_path: Path, spark: Any) -> None:
    class NeedsConf:
        @hookimpl
        def lakeloom_spark_conf(self, workspace: Any) -> dict[str, str]:
            return {"spark.lakeloom.test.plugin": str(workspace.root)}

    h = Harness(tmp_path, extra_plugins=(NeedsConf(),))
    assert h.engine.spark() is spark  # the pytest session's session is reused, never a second one
    assert h.engine.spark_provider.conf()["spark.lakeloom.test.plugin"] == str(h.workspace.root)
    h.close()


# --- run lifecycle --------------------------------------------------------------------

def test_hook_lakeloom_before_run(tmp_path: Path) -> None:
    class Opener:
        def __init__(self) -> None:
            self.seen: list[tuple[str, bool]] = []
            self.tasks_saw: dict[str, str] = {}

        @hookimpl
        def lakeloom_before_run(self, run: dict[str, Any], job: Job, handle: RunView) -> None:
            assert (handle.run_id, handle.job_id, handle.job.name) == (run["run_id"], run["job_id"], job.name)
            self.seen.append((run["state"]["life_cycle_state"], handle.finished()))
            handle.stash[OPENED] = f"opened {job.name} run {handle.run_id}"

        @hookimpl
        def lakeloom_after_task(self, ctx: TaskContext, output: TaskOutput, result_state: str) -> None:
            self.tasks_saw[ctx.task_key] = ctx.run.stash[OPENED]

    opener = Opener()
    h = Harness(tmp_path, extra_plugins=(opener,))
    run = h.run([task("a"), task("b", deps=["a"])], name="opened")
    assert run["state"]["result_state"] == "SUCCESS"
    assert opener.seen == [("RUNNING", False)]
    assert opener.tasks_saw == {k: f"opened opened run {run['run_id']}" for k in ("a", "b")}
    h.close()


def test_hook_lakeloom_after_run(tmp_path: Path) -> None:
    class Closer:
        def __init__(self) -> None:
            self.ended: list[tuple[str, int, bool, bool]] = []
            self.handles: dict[int, RunView] = {}

        @hookimpl
        def lakeloom_before_run(self, run: dict[str, Any], job: Job, handle: RunView) -> None:
            self.handles[handle.run_id] = handle

        @hookimpl
        def lakeloom_after_run(self, run: dict[str, Any], job: Job, handle: RunView) -> None:
            self.ended.append((run["state"].get("result_state") or run["state"]["life_cycle_state"],
                               len(run.get("tasks", [])), handle.finished(), self.handles.get(run["run_id"]) is handle))

    closer = Closer()
    h = Harness(tmp_path / "ws", extra_plugins=(closer,))
    h.run([task("a"), task("b", "fail")])
    assert closer.ended == [("FAILED", 2, True, True)]

    # A run skipped over max_concurrent_runs never starts: after_run still sees it, with a fresh handle.
    gate = tmp_path / "gate"
    executor = RunExecutor(h.engine, per_run_spark=False)
    single = h.store.create_job("single", {"name": "single", "max_concurrent_runs": 1, "tasks": [
        task("w", "wait_for_file", params={"path": str(gate)})]}, creator="tester")
    first = executor.start(single)
    wait_until(lambda: any(r.life_cycle_state == "RUNNING" for r in h.store.task_runs(first.run_id)))
    assert executor.start(single).state == "SKIPPED"
    assert closer.ended[1] == ("MAXIMUM_CONCURRENT_RUNS_REACHED", 0, True, False)
    gate.write_text("go")
    wait_until(lambda: not executor.active_run_ids(), timeout=30)
    assert closer.ended[2] == ("SUCCESS", 1, True, True)
    h.close()


# --- task lifecycle -------------------------------------------------------------------

def test_hook_lakeloom_before_task(tmp_path: Path) -> None:
    class Veto:
        @hookimpl
        def lakeloom_before_task(self, ctx: TaskContext) -> None:
            if ctx.task_key == "guarded":
                raise PermissionError("not today")

    h = Harness(tmp_path, extra_plugins=(Veto(),))
    run = h.run([task("guarded"), task("free")])
    states = {t["task_key"]: t["state"] for t in run["tasks"]}
    assert states["guarded"]["result_state"] == "FAILED"
    assert "PermissionError: not today" in states["guarded"]["state_message"]
    assert states["free"]["result_state"] == "SUCCESS"
    h.close()


def test_hook_lakeloom_after_task(tmp_path: Path) -> None:
    class Auditor:
        def __init__(self) -> None:
            self.lines: list[str] = []
            self.lock = threading.Lock()

        @hookimpl
        def lakeloom_before_task(self, ctx: TaskContext) -> None:
            ctx.stash[STARTED_AT] = ctx.attempt_number

        @hookimpl
        def lakeloom_after_task(self, ctx: TaskContext, output: TaskOutput, result_state: str) -> None:
            with self.lock:
                self.lines.append(f"{ctx.task_key}#{ctx.stash[STARTED_AT]} {result_state} {output.output}")
            if ctx.task_key == "b":
                raise RuntimeError("auditor bug")  # logged; the result stands

    auditor = Auditor()
    h = Harness(tmp_path, extra_plugins=(auditor,))
    run = h.run([task("a", "echo", params={"k": "v"}), task("b", deps=["a"]),
                 task("c", "fail_until_attempt", deps=["b"], params={"succeed_at": "1"}, max_retries=1)])
    assert run["state"]["result_state"] == "SUCCESS"
    assert auditor.lines == ["a#0 SUCCESS {'result': {'k': 'v'}}", "b#0 SUCCESS {}", "c#0 FAILED {}",
                             "c#1 SUCCESS {'result': 1}"]
    h.close()


def test_hook_lakeloom_on_task_error(tmp_path: Path) -> None:
    class Enricher:
        def __init__(self) -> None:
            self.errors: list[tuple[str, str, str]] = []

        @hookimpl
        def lakeloom_on_task_error(self, ctx: TaskContext, error: BaseException) -> None:
            self.errors.append((ctx.task_key, type(error).__name__, str(error)))
            ctx.logger.error("on-call paged for %s", ctx.task_key)
            raise RuntimeError("pager bug")  # ignored: the coordinator still retries

    enricher = Enricher()
    h = Harness(tmp_path, extra_plugins=(enricher,))
    run = h.run([task("ok"), task("bad", "fail", params={"message": "disk full"}, max_retries=1)])
    assert enricher.errors == [("bad", "DataError", "disk full")] * 2
    rows = h.task_rows(run["run_id"], "bad")
    assert len(rows) == 2 and "on-call paged for bad" in h.workspace.resolve_stored(rows[0].log_path).read_text()
    h.close()


# --- governance -----------------------------------------------------------------------

def test_hook_lakeloom_authorize(tmp_path: Path) -> None:
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
    # A plugin's answer decides the Python-side grant checks (REST API, dbutils.fs on volumes).
    from lakeloom.catalog.grants import GrantStore, PermissionDenied, Securable
    from lakeloom.config import Workspace

    orders = Securable.of("table", "main.s.t")
    store = GrantStore(Workspace(root=tmp_path), authorize_hook=pm.hook.lakeloom_authorize)
    store.check("bob", "SELECT", orders)  # no grant on disk: the plugin allowed it
    with pytest.raises(PermissionDenied, match="User does not have SELECT on Table 'main.s.t'"):
        store.check("admin", "SELECT", orders)
    with pytest.raises(PermissionDenied, match="USE CATALOG on Catalog 'main'"):
        GrantStore(Workspace(root=tmp_path), authorize_hook=build_plugin_manager().hook.lakeloom_authorize).check(
            "bob", "SELECT", orders)
