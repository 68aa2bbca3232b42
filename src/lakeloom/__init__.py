"""lakeloom: Databricks-Workflows-style jobs on open-source Spark and Delta Lake.

The public facade. Every name is imported on first use, so ``import lakeloom`` (and
``lakeloom --help``) stays instant; pyspark, mlflow and great_expectations are never
imported here.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: The plugin contracts (``lakeloom.plugin_api``), then the run API.
_PLUGIN_API = (
    "TaskContext", "current_context", "TaskOutput", "TaskType", "TaskFailed", "TaskCancelled", "SpecIssue",
    "TaskValues", "ChildRunResult", "RunServices", "TriggerKind", "TriggerEnv", "JobEntry", "Decision", "Fire",
    "Notifier", "Notification", "Attachment", "DeliveryError", "RunView", "Stash", "StashKey", "ContributedJob",
)
_EXPORTS = {
    "hookimpl": "lakeloom.hookspecs",
    **dict.fromkeys(_PLUGIN_API, "lakeloom.plugin_api"),
    "load_job_file": "lakeloom.spec.loader",
    "run_job": "lakeloom.engine.api",
    "Engine": "lakeloom.engine.api",
}

__all__ = ["__version__", "context", *_EXPORTS]

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine, run_job
    from lakeloom.hookspecs import hookimpl
    from lakeloom.plugin_api import (Attachment, ChildRunResult, ContributedJob, Decision, DeliveryError, Fire, JobEntry,
                                     Notification, Notifier, RunServices, RunView, SpecIssue, Stash, StashKey,
                                     TaskCancelled, TaskContext, TaskFailed, TaskOutput, TaskType, TaskValues,
                                     TriggerEnv, TriggerKind, current_context)
    from lakeloom.spec.loader import load_job_file


def context() -> TaskContext:
    """The current task's context; raises RuntimeError outside a task."""
    from lakeloom.plugin_api import current_context

    ctx = current_context()
    if ctx is None:
        raise RuntimeError("lakeloom.context() called outside a running task")
    return ctx


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lakeloom' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
