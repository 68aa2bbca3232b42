"""The parent's side of a job cluster that runs in its own process (its own Spark application).

One Python process holds one SparkContext, so a job cluster whose settings the run's session
cannot take runs in a child process (:mod:`lakeloom.engine.cluster_child`) started at its first
task. The coordinator stays here: it records attempts, decides retries, timeouts and cancels,
and sends each attempt to the child over a local authenticated socket
(``multiprocessing.connection``). The child runs the attempt as the engine does in process
(same ``execute_attempt``, log file, store, dbutils) and streams back task values as they are
set, calls to the engine's services (child runs, ``dbutils.notebook.run``), and the result.
"""
from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from lakeloom.engine import states as st
from lakeloom.engine.attempt import AttemptResult

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.engine.attempt import AttemptPlan
    from lakeloom.engine.session import RunSession, TaskRecord
    from lakeloom.runtime.compute import ResolvedCluster
    from lakeloom.spec.models import Job, Task

log = logging.getLogger("lakeloom.engine")

AUTHKEY_ENV = "LAKELOOM_CLUSTER_AUTHKEY"
_CONNECT_TIMEOUT_SECONDS = 120.0
_STOP_GRACE_SECONDS = 60.0


@dataclass
class ChildInit:
    """What a cluster child needs to act as the run's engine for one cluster."""

    workspace: Workspace
    sys_path: list[str]
    job: Job
    job_id: int
    run_id: int
    base_dir: Path
    job_parameters: dict[str, str]
    start_time_ms: int
    trigger_type: str
    trigger_info: dict[str, Any]
    repair_id: int | None
    repair_count: int
    redactions: set[str]
    cluster: ResolvedCluster
    app_name: str


@dataclass
class RemoteAttempt:
    """An :class:`AttemptPlan` without its cancel event, with the run state references read."""

    task: Task
    attempt_number: int
    task_run_id: int
    job_group: str
    iteration: int | None
    input_value: Any
    has_input: bool
    task_values: dict[str, dict[str, Any]]
    records: dict[str, TaskRecord]
    redactions: set[str] = field(default_factory=set)


class _Pending:
    def __init__(self, plan: AttemptPlan) -> None:
        self.plan = plan
        self.done = threading.Event()
        self.result: AttemptResult | None = None


class ClusterProcess:
    """A child process holding one job cluster's Spark application for one run."""

    def __init__(self, session: RunSession, cluster: ResolvedCluster) -> None:
        self.s = session
        self.cluster = cluster
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._send_lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.exit_message = ""

    @property
    def log_path(self) -> Path:
        """Where the process's own output goes (``.lakeloom/logs/<run_id>/clusters/<cluster>.log``)."""
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.cluster.key)
        return self.s.workspace.logs_dir / str(self.s.run_id) / "clusters" / f"{name}.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return not self._closed and self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the child and hand it the run; raises RuntimeError when it does not connect."""
        authkey = secrets.token_bytes(24)
        listener = Listener(("127.0.0.1", 0), authkey=authkey)
        host, port = listener.address
        env = {**os.environ, **self.cluster.env, AUTHKEY_ENV: authkey.hex(), "PYSPARK_PYTHON": sys.executable}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Tasks' output goes to their own logs; what else the process and its JVM print goes here.
        with open(self.log_path, "ab") as out:
            # -P: `-m` would put the working directory on sys.path, which the parent's has not
            # (the child gets the parent's sys.path): a module there would import only here.
            self._proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "lakeloom.engine.cluster_child", f"{host}:{port}"],
                env=env, cwd=os.getcwd(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        accepted: list[Connection] = []
        errors: list[BaseException] = []

        def accept() -> None:
            try:
                accepted.append(listener.accept())
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        acceptor = threading.Thread(target=accept, name="lakeloom-cluster-accept", daemon=True)
        acceptor.start()
        waited = 0.0
        while acceptor.is_alive() and waited < _CONNECT_TIMEOUT_SECONDS and self._proc.poll() is None:
            acceptor.join(0.2)
            waited += 0.2
        listener.close()
        if not accepted:
            self._proc.kill()
            raise RuntimeError(f"the process of {self.cluster.label} did not start (exit code {self._proc.poll()}"
                               f"{'; ' + str(errors[0]) if errors else ''}); see {self.log_path}")
        self._conn = accepted[0]
        s = self.s
        init = ChildInit(
            workspace=s.workspace, sys_path=list(sys.path), job=s.job, job_id=s.job_id, run_id=s.run_id,
            base_dir=s.base_dir, job_parameters=dict(s.job_parameters), start_time_ms=s.start_time_ms,
            trigger_type=s.trigger_type, trigger_info=dict(s.trigger_info), repair_id=s.repair_id,
            repair_count=s.repair_count, redactions=set(s.redactions), cluster=self.cluster,
            app_name=f"lakeloom run {s.run_id} {self.cluster.label}")
        self._send(("init", init))
        threading.Thread(target=self._read, name=f"lakeloom-cluster-{self.cluster.key}", daemon=True).start()

    # --- attempts ----------------------------------------------------------------------

    def run_attempt(self, plan: AttemptPlan) -> AttemptResult:
        """Run ``plan`` in the child; blocks until its result arrives (or the child is gone)."""
        pending = _Pending(plan)
        with self._lock:
            if self._closed:
                return self._lost(plan)
            self._pending[plan.job_group] = pending
        s = self.s
        remote = RemoteAttempt(
            task=plan.task, attempt_number=plan.attempt_number, task_run_id=plan.task_run_id,
            job_group=plan.job_group, iteration=plan.iteration, input_value=plan.input_value,
            has_input=plan.has_input, task_values=s.task_values.snapshot(), records=dict(s.records),
            redactions=set(s.redactions))
        try:
            self._send(("attempt", remote))
            if plan.cancel_event.is_set():  # stopped while the process started: cancel() found no attempt
                self._send(("cancel", plan.job_group))
        except (OSError, EOFError):
            self._gone()
        pending.done.wait()
        return pending.result or self._lost(plan)

    def cancel(self, job_group: str) -> bool:
        """Cancel an attempt running in the child; False when it is not one of this child's."""
        with self._lock:
            if job_group not in self._pending:
                return False
        try:
            self._send(("cancel", job_group))
        except (OSError, EOFError):
            self._gone()
        return True

    def stop(self) -> None:
        """Stop the child's Spark application and the child; waits up to a minute, then kills it."""
        if self._proc is None:
            return
        try:
            self._send(("stop", None))
        except (OSError, EOFError):
            pass
        try:
            self._proc.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("the process of %s did not stop; killing it", self.cluster.label)
            self._proc.kill()
            self._proc.wait()
        self._gone()

    # --- the channel -------------------------------------------------------------------

    def _send(self, message: tuple[str, Any]) -> None:
        assert self._conn is not None
        with self._send_lock:
            self._conn.send(message)

    def _read(self) -> None:
        assert self._conn is not None
        while True:
            try:
                kind, payload = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # an undecodable message: the child sent something unpicklable here
                log.exception("bad message from the process of %s", self.cluster.label)
                continue
            if kind == "value":
                task_key, key, value = payload
                self.s.task_values.remember(task_key, key, value)
            elif kind == "redactions":
                self.s.redactions.update(payload)
            elif kind == "call":
                threading.Thread(target=self._serve_call, args=payload, daemon=True).start()
            elif kind == "done":
                job_group, result = payload
                with self._lock:
                    pending = self._pending.pop(job_group, None)
                if pending is not None:
                    pending.result = result
                    pending.done.set()
        self._gone()

    def _serve_call(self, call_id: int, job_group: str, name: str, args: dict[str, Any]) -> None:
        """A task in the child asked for an engine service (a child run); run it here."""
        with self._lock:
            pending = self._pending.get(job_group)
        try:
            if name != "run_child_job" or pending is None:
                raise RuntimeError(f"{name} is not available to a task on {self.cluster.label}")
            plan = pending.plan
            ctx = SimpleNamespace(run_id=self.s.run_id, task_run_id=plan.task_run_id, task_key=plan.task.task_key,
                                  base_dir=args.pop("ctx_base_dir"), cancel_event=plan.cancel_event,
                                  redactions=self.s.redactions)
            reply: tuple[bool, Any] = (True, self.s.services.run_child_job(ctx, **args))  # type: ignore[arg-type]
        except Exception as e:  # the task sees the error, as in process
            reply = (False, RuntimeError(f"{type(e).__name__}: {e}"))
        try:
            self._send(("reply", (call_id, *reply)))
        except (OSError, EOFError):
            self._gone()

    def _gone(self) -> None:
        """The child ended (or the channel broke): fail whatever still waits on it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            left = list(self._pending.values())
            self._pending.clear()
        code = None
        if self._proc is not None:
            try:
                code = self._proc.wait(5)  # the channel closes a moment before the exit is visible
            except subprocess.TimeoutExpired:  # alive without a channel: of no use, and it holds a JVM
                self._proc.kill()
                code = self._proc.wait()
        self.exit_message = f"the Spark application process of {self.cluster.label} ended (exit code {code})"
        for pending in left:
            pending.result = self._lost(pending.plan)
            pending.done.set()
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass

    def _lost(self, plan: AttemptPlan) -> AttemptResult:
        message = self.exit_message or f"the Spark application process of {self.cluster.label} is not running"
        return AttemptResult(st.FAILED, error_type="ClusterError", message=message,
                             log_path=str(self.s.log_path(plan.task.task_key, plan.attempt_number, plan.iteration)))
