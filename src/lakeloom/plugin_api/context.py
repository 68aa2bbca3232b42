"""TaskContext: what a running task attempt can see, held in a contextvar."""
from __future__ import annotations

import contextvars
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from lakeloom.plugin_api.runs import Stash

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.config import Workspace
    from lakeloom.plugin_api.runs import RunView
    from lakeloom.spec.models import Job, Task

_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("lakeloom_task_context", default=None)


class TaskCancelled(Exception):
    """Raised inside a task when its attempt was cancelled or timed out."""


class TaskValueStore(Protocol):
    """Task values of one run (persisted by the engine)."""

    def set(self, task_key: str, key: str, value: Any) -> None: ...

    def get(self, task_key: str, key: str) -> Any: ...  # raises KeyError when absent


class RunServices(Protocol):
    """Engine services a task may call (for_each, run_job, dbutils.notebook.run)."""

    def run_nested_task(self, ctx: TaskContext, task: Task, *, input_value: Any, iteration: int) -> dict[str, Any]: ...

    def run_child_job(self, ctx: TaskContext, job: Job | str | int, parameters: dict[str, str], *,
                      run_type: str = "JOB_RUN", timeout_seconds: int = 0,
                      base_dir: Path | None = None, pushed_down: dict[str, str] | None = None) -> ChildRunResult:
        """Run ``job`` as a child run of ``ctx``'s task and wait for it. ``parameters`` are its
        job parameters (an undeclared name is an error); ``pushed_down`` are the parent's job
        parameters, which set the child's parameters of the same name and win over
        ``parameters`` (the others are dropped)."""
        ...


@dataclass
class ChildRunResult:
    """The outcome of a child run started by a task (run_job_task, dbutils.notebook.run)."""

    run_id: int
    result_state: str
    state_message: str
    #: ``TaskOutput.output`` of each task of the child run, by task key.
    outputs: dict[str, dict[str, Any]]


class TaskValues:
    """``ctx.task_values``: set values for downstream tasks, read upstream ones."""

    MAX_BYTES = 48 * 1024

    def __init__(self, store: TaskValueStore, task_key: str) -> None:
        self._store = store
        self._task_key = task_key

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-serializable ``value`` (at most 48 KiB encoded) under ``key``."""
        import json

        try:
            encoded = json.dumps(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"task value {key!r} is not JSON-serializable: {e}") from e
        if len(encoded.encode()) > self.MAX_BYTES:
            raise ValueError(f"task value {key!r} is {len(encoded.encode())} bytes; the limit is 48 KiB")
        self._store.set(self._task_key, key, value)

    _MISSING = object()

    def get(self, task_key: str, key: str, default: Any = _MISSING) -> Any:
        """Read the value ``key`` set by ``task_key``; ``default`` when absent, else ValueError."""
        try:
            return self._store.get(task_key, key)
        except KeyError:
            if default is not TaskValues._MISSING:
                return default
            raise ValueError(f"no task value {key!r} was set by task {task_key!r}") from None


@dataclass
class TaskContext:
    """Everything one task attempt can see. ``lakeloom.context()`` returns the current one."""

    run_id: int
    job_id: int
    job_name: str
    task_key: str
    task_run_id: int
    attempt_number: int
    execution_count: int
    parameters: dict[str, str]
    job_parameters: dict[str, str]
    task_values: TaskValues
    logger: logging.Logger
    workspace: Workspace
    base_dir: Path
    cancel_event: threading.Event
    spark_provider: Callable[[], SparkSession]
    resolver: Callable[[str], str]
    services: RunServices
    task: Task | None = None
    input_value: Any = None
    #: This attempt's log file (one per for-each iteration too); outputs saved "next to the
    #: log" go beside it.
    log_path: Path | None = None
    #: The run this attempt belongs to (its ``stash`` holds plugins' per-run state);
    #: None for a context built outside the engine.
    run: RunView | None = None
    #: Plugins' typed per-attempt state (``ctx.stash[KEY]`` with a ``StashKey``), e.g.
    #: notebook widgets and the ``%run`` stack.
    stash: Stash = field(default_factory=Stash)
    #: Secret values read during this run (by any of its tasks, or its parent run's); the
    #: engine replaces them with ``[REDACTED]`` in captured output, logs, errors, stored
    #: outputs, task values and parameters.
    redactions: set[str] = field(default_factory=set)

    def redact(self, text: str) -> str:
        """``text`` with every secret value read in this run replaced."""
        return redact_text(text, self.redactions)

    @property
    def spark(self) -> SparkSession:
        """The run's shared SparkSession, created on first use."""
        return self.spark_provider()

    def resolve(self, text: str) -> str:
        """Resolve ``{{...}}`` dynamic value references in ``text``."""
        return self.resolver(text)

    def check_cancelled(self) -> None:
        """Raise TaskCancelled when the attempt was cancelled or timed out."""
        if self.cancel_event.is_set():
            raise TaskCancelled(f"task {self.task_key!r} was cancelled")

    @property
    def job_group(self) -> str:
        """The Spark job group of this attempt (used to cancel its Spark jobs)."""
        return f"lakeloom-{self.run_id}-{self.task_key}-{self.attempt_number}-{self.task_run_id}"


def redact_text(text: str, secrets: set[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``[REDACTED]`` (longest first)."""
    # copy(): other task threads of the run add secrets while this one redacts.
    for secret in sorted(secrets.copy(), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text


def redact_value(value: Any, secrets: set[str]) -> Any:
    """``value`` with secrets replaced in every string, dict keys included.

    Redacting each string before JSON encoding matters: a secret with quotes, backslashes or
    non-ASCII characters would otherwise be stored escaped and missed.
    """
    if not secrets:
        return value
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, secrets) for v in value]
    return value


def current_context() -> TaskContext | None:
    """The context of the task running on this thread, or None outside a task."""
    return _current.get()


def require_context() -> TaskContext:
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("not inside a lakeloom task")
    return ctx


class _Activation:
    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.token: contextvars.Token[TaskContext | None] | None = None

    def __enter__(self) -> TaskContext:
        self.token = _current.set(self.ctx)
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        assert self.token is not None
        _current.reset(self.token)


def activate(ctx: TaskContext) -> _Activation:
    """``with activate(ctx):`` makes ``ctx`` current on this thread."""
    return _Activation(ctx)
