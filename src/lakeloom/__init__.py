"""lakeloom: Databricks-Workflows-style jobs on open-source Spark and Delta Lake.

The public facade. Every name is imported on first use, so ``import lakeloom`` (and
``lakeloom --help``) stays instant; pyspark, mlflow and great_expectations are never
imported here.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "hookimpl": "lakeloom.hookspecs",
    "TaskContext": "lakeloom.runtime.context",
    "current_context": "lakeloom.runtime.context",
    "TaskOutput": "lakeloom.spec.tasktype",
    "TaskType": "lakeloom.spec.tasktype",
    "TaskFailed": "lakeloom.spec.tasktype",
    "SpecIssue": "lakeloom.spec.tasktype",
    "load_job_file": "lakeloom.spec.loader",
    "run_job": "lakeloom.engine.api",
    "Engine": "lakeloom.engine.api",
}

__all__ = ["__version__", "context", *_EXPORTS]

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine, run_job
    from lakeloom.hookspecs import hookimpl
    from lakeloom.runtime.context import TaskContext, current_context
    from lakeloom.spec.loader import load_job_file
    from lakeloom.spec.tasktype import SpecIssue, TaskFailed, TaskOutput, TaskType


def context() -> TaskContext:
    """The current task's context; raises RuntimeError outside a task."""
    from lakeloom.runtime.context import current_context

    ctx = current_context()
    if ctx is None:
        raise RuntimeError("lakeloom.context() called outside a running task")
    return ctx


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lakeloom' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
