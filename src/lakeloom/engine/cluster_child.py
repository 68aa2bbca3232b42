"""A job cluster's own process: ``python -m lakeloom.engine.cluster_child HOST:PORT``.

Started by :class:`lakeloom.engine.cluster_process.ClusterProcess`. It holds the cluster's
Spark application (created on the first task that uses Spark, with the cluster's master and
settings) and runs the attempts the parent sends, each on its own thread, with the engine's
own :func:`execute_attempt`: the attempt writes its log file, task values and the run store
itself, and the parent records the attempt's start and end. It ends on ``stop`` (stopping its
Spark application) or when the parent goes away.
"""
from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from lakeloom.engine.cluster_process import ChildInit, RemoteAttempt
    from lakeloom.engine.session import RunSession
    from lakeloom.plugin_api import ChildRunResult, TaskContext
    from lakeloom.spec.models import Job

log = logging.getLogger("lakeloom.engine")


class _Channel:
    """The child's end: thread-safe sends, and replies to service calls matched by id."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._replies: dict[int, tuple[threading.Event, list[Any]]] = {}

    def send(self, kind: str, payload: Any) -> None:
        with self._lock:
            self.conn.send((kind, payload))

    def call(self, job_group: str, name: str, args: dict[str, Any]) -> Any:
        call_id = next(self._ids)
        slot: tuple[threading.Event, list[Any]] = (threading.Event(), [])
        self._replies[call_id] = slot
        self.send("call", (call_id, job_group, name, args))
        slot[0].wait()
        ok, value = slot[1]
        if not ok:
            raise value
        return value

    def reply(self, call_id: int, ok: bool, value: Any) -> None:
        slot = self._replies.pop(call_id, None)
        if slot is not None:
            slot[1][:] = [ok, value]
            slot[0].set()

    def fail_calls(self) -> None:
        for call_id in list(self._replies):
            self.reply(call_id, False, RuntimeError("the run's engine went away"))


class _StreamingValues:
    """The run's task values in the child: written to the store and streamed to the parent."""

    def __init__(self, inner: Any, channel: _Channel) -> None:
        self._inner = inner
        self._channel = channel

    def set(self, task_key: str, key: str, value: Any) -> None:
        self._inner.set(task_key, key, value)
        self._channel.send("value", (task_key, key, value))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _ForwardingServices:
    """Engine services for tasks in the child: child runs are started by the parent's engine."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel

    def run_nested_task(self, ctx: TaskContext, task: Any, *, input_value: Any, iteration: int) -> dict[str, Any]:
        raise RuntimeError("for_each_task runs in the run's engine, not on a job cluster")

    def run_child_job(self, ctx: TaskContext, job: Job | str | int, parameters: dict[str, str], *,
                      run_type: str = "JOB_RUN", timeout_seconds: int = 0,
                      base_dir: Path | None = None, pushed_down: dict[str, str] | None = None) -> ChildRunResult:
        job_group = str(getattr(ctx.spark_provider, "job_group", ""))  # the attempt's, as the parent knows it
        return self._channel.call(job_group, "run_child_job",
                                  {"job": job, "parameters": parameters, "run_type": run_type,
                                   "timeout_seconds": timeout_seconds, "base_dir": base_dir,
                                   "pushed_down": pushed_down,
                                   "ctx_base_dir": ctx.base_dir})


def _session(init: ChildInit, channel: _Channel) -> tuple[RunSession, Any]:
    from lakeloom.engine.session import RunSession
    from lakeloom.plugin_manager import build_plugin_manager, plugin_spark_conf
    from lakeloom.runtime.spark import SparkSessionProvider
    from lakeloom.store.store import open_store

    ws = init.workspace
    pm = build_plugin_manager(ws.disabled_plugins)
    provider = SparkSessionProvider(ws, plugin_spark_conf(ws, pm), app_name=init.app_name, master=init.cluster.master,
                                    overrides=init.cluster.conf)
    session = RunSession(
        workspace=ws, pm=pm, store=open_store(ws.store_url), job=init.job, job_id=init.job_id, run_id=init.run_id,
        base_dir=init.base_dir, job_parameters=init.job_parameters, start_time_ms=init.start_time_ms,
        trigger_type=init.trigger_type, trigger_info=init.trigger_info, spark=provider.get,
        spark_started=lambda: provider.started, services=_ForwardingServices(channel),  # type: ignore[arg-type]
        repair_id=init.repair_id, repair_count=init.repair_count, watch_store_cancel=False,
        redactions=init.redactions)
    session.task_values = _StreamingValues(session.task_values, channel)  # type: ignore[assignment]
    return session, provider


def _run_attempt(session: RunSession, channel: _Channel, remote: RemoteAttempt,
                 events: dict[str, threading.Event]) -> None:
    from lakeloom.engine.attempt import AttemptPlan, AttemptResult, execute_attempt
    from lakeloom.engine import states as st

    session.task_values.load(remote.task_values)
    session.records.update(remote.records)
    session.redactions.update(remote.redactions)
    known = set(session.redactions)
    plan = AttemptPlan(task=remote.task, attempt_number=remote.attempt_number, task_run_id=remote.task_run_id,
                       cancel_event=events[remote.job_group], job_group=remote.job_group, iteration=remote.iteration,
                       input_value=remote.input_value, has_input=remote.has_input)
    try:
        result = execute_attempt(session, plan)
    except BaseException as e:  # noqa: BLE001 - the parent must always get a result
        result = AttemptResult(st.FAILED, error_type=type(e).__name__, message=str(e))
    events.pop(remote.job_group, None)
    if session.redactions - known:
        channel.send("redactions", set(session.redactions - known))
    channel.send("done", (remote.job_group, result))


def serve(conn: Connection) -> None:
    """Run attempts from ``conn`` until ``stop`` or until the parent is gone."""
    from lakeloom.runtime import logcapture

    channel = _Channel(conn)
    kind, init = conn.recv()
    assert kind == "init"
    for entry in reversed(init.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    logcapture.install()
    try:
        from lakeloom.runtime.dbutils import install_runtime_shims

        install_runtime_shims()
    except ImportError:
        pass
    session, provider = _session(init, channel)
    events: dict[str, threading.Event] = {}
    try:
        while True:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                break
            if kind == "attempt":
                events[payload.job_group] = threading.Event()
                threading.Thread(target=_run_attempt, args=(session, channel, payload, events),
                                 name=f"lakeloom-task-{payload.task.task_key}", daemon=True).start()
            elif kind == "cancel":
                event = events.get(payload)
                if event is not None:
                    event.set()
                session.cancel_spark_group(payload)
            elif kind == "reply":
                channel.reply(*payload)
            elif kind == "stop":
                break
    finally:
        channel.fail_calls()
        provider.stop()
        session.store.close()


def main() -> None:
    from multiprocessing.connection import Client

    from lakeloom.engine.cluster_process import AUTHKEY_ENV

    host, _, port = sys.argv[1].rpartition(":")
    authkey = bytes.fromhex(os.environ.pop(AUTHKEY_ENV))
    conn = Client((host, int(port)), authkey=authkey)
    try:
        serve(conn)
    finally:
        conn.close()
    # Attempt threads the parent gave up on must not keep the process (and its JVM) alive.
    os._exit(0)


if __name__ == "__main__":
    main()
