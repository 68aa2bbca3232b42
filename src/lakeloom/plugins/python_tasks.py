"""Built-in plugin: ``python_task``, ``spark_python_task`` and ``python_wheel_task``."""
from __future__ import annotations

import functools
import importlib
import inspect
import runpy
import sys
import threading
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import Field, model_validator

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import SpecIssue, TaskContext, TaskOutput, TaskType
from lakeloom.runtime.dbutils import namespace_globals
from lakeloom.runtime.imports import current_scope, import_task_module, task_file_scope
from lakeloom.spec.models import Strict


class PythonTask(Strict):
    """``python_task: {function: "pkg.module:callable", parameters: {k: v}}``."""

    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    parameters: dict[str, Any] = Field(default_factory=dict)


class SparkPythonTask(Strict):
    python_file: str
    parameters: list[str] = Field(default_factory=list)
    source: str | None = None


class PythonWheelTask(Strict):
    package_name: str
    entry_point: str
    parameters: list[str] | None = None
    named_parameters: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_style(self) -> PythonWheelTask:
        if self.parameters is not None and self.named_parameters is not None:
            raise ValueError("use either parameters or named_parameters, not both")
        return self


def load_callable(spec: str) -> Callable[..., Any]:
    """The callable ``module:attr`` names, from the files the running task's folders resolve
    ``module`` to (see :func:`~lakeloom.runtime.imports.import_task_module`)."""
    module_name, _, attr = spec.partition(":")
    obj: Any = import_task_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{spec} is not callable")
    return obj


@functools.lru_cache(maxsize=4096)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def _run_python(ctx: TaskContext, settings: PythonTask) -> TaskOutput:
    # `function: tasks:build` finds tasks.py beside the job file (or in the bundle root).
    with task_file_scope(None, ctx.base_dir):
        return _call_function(ctx, settings)


def _call_function(ctx: TaskContext, settings: PythonTask) -> TaskOutput:
    fn = load_callable(settings.function)
    kwargs = dict(settings.parameters)
    sig = _signature(fn)
    if "ctx" in sig.parameters:
        kwargs["ctx"] = ctx
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    if not accepts_any:
        unknown = [k for k in kwargs if k not in sig.parameters]
        if unknown:
            raise TypeError(f"{settings.function} does not accept parameter(s) {', '.join(unknown)}")
    value = fn(**kwargs)
    return TaskOutput(output={"result": value} if value is not None else {})


class _ArgvGate:
    """sys.argv is process-global, so scripts that read it run one at a time; but a script
    whose attempt was cancelled or timed out (and may be abandoned, stuck for ever) no longer
    holds the others back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner_cancelled: threading.Event | None = None

    def acquire(self, cancelled: threading.Event) -> bool:
        while not self._lock.acquire(timeout=0.2):
            owner = self._owner_cancelled
            if owner is not None and owner.is_set():
                return False
        self._owner_cancelled = cancelled
        return True

    def release(self) -> None:
        self._owner_cancelled = None
        self._lock.release()


_argv_gate = _ArgvGate()


@contextmanager
def _argv(argv: list[str], cancelled: threading.Event) -> Iterator[None]:
    owned = _argv_gate.acquire(cancelled)
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved
        if owned:
            _argv_gate.release()


def _run_script(ctx: TaskContext, settings: SparkPythonTask) -> TaskOutput:
    path = _script_path(ctx.base_dir, settings.python_file)
    if not path.exists():
        raise FileNotFoundError(f"python_file not found: {path}")
    # As on Databricks: the file's folder is the working directory, its siblings and the
    # bundle root import, and spark/dbutils/display are globals.
    with task_file_scope(path.parent, ctx.base_dir), _argv([str(path), *settings.parameters], ctx.cancel_event):
        try:
            runpy.run_path(str(path), init_globals=namespace_globals(), run_name="__main__")
        except SystemExit as e:
            if e.code not in (None, 0):
                raise RuntimeError(f"{path.name} exited with status {e.code}") from e
    return TaskOutput()


def _script_path(base_dir: Path, python_file: str) -> Path:
    text = python_file.removeprefix("file:")
    p = Path(text)
    return p if p.is_absolute() else (base_dir / p).resolve()


def _wheel_argv(settings: PythonWheelTask) -> list[str]:
    if settings.named_parameters is not None:
        return [settings.package_name, *(f"--{k}={v}" for k, v in settings.named_parameters.items())]
    return [settings.package_name, *(settings.parameters or [])]


def _wheel_entry(settings: PythonWheelTask) -> Callable[[], Any]:
    # The task's environment (libraries: whl, environments) is searched before sys.path.
    scope = current_scope()
    search = [*(scope.front if scope is not None else ()), *sys.path]
    dist = next(iter(metadata.distributions(name=settings.package_name, path=search)), None)
    if dist is not None:
        for ep in dist.entry_points:
            if ep.name == settings.entry_point:
                return ep.load()
    # Databricks falls back to calling $package.$entryPoint() directly.
    module = importlib.import_module(settings.package_name.replace("-", "_"))
    fn = getattr(module, settings.entry_point, None)
    if fn is None:
        raise LookupError(f"entry point {settings.entry_point!r} not found in distribution or package "
                          f"{settings.package_name!r}")
    return fn


def _run_wheel(ctx: TaskContext, settings: PythonWheelTask) -> TaskOutput:
    with task_file_scope(None, ctx.base_dir):
        return _call_wheel(ctx, settings)


def _call_wheel(ctx: TaskContext, settings: PythonWheelTask) -> TaskOutput:
    fn = _wheel_entry(settings)
    with _argv(_wheel_argv(settings), ctx.cancel_event):
        try:
            value = fn()
        except SystemExit as e:
            if e.code not in (None, 0):
                raise RuntimeError(f"{settings.package_name}:{settings.entry_point} exited with status {e.code}") from e
            value = None
    return TaskOutput(output={"result": value} if value is not None else {})


def _validate_script(settings: SparkPythonTask, base_dir: Path) -> list[SpecIssue]:
    path = _script_path(base_dir, settings.python_file)
    return [] if path.exists() else [SpecIssue("python_file", f"file not found: {path}")]


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    return [
        TaskType("python_task", PythonTask, _run_python, parameters_field="parameters",
                 description="call a Python function from an installed package"),
        TaskType("spark_python_task", SparkPythonTask, _run_script, needs_spark=True,
                 validate=_validate_script, description="run a Python file as __main__"),
        TaskType("python_wheel_task", PythonWheelTask, _run_wheel, parameters_field="named_parameters",
                 key_value_parameters=False, description="call an installed distribution's entry point"),
    ]
