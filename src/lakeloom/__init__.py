"""lakeloom: Databricks-Workflows-style jobs on open-source Spark and Delta Lake.

The public facade. Heavy modules (pyspark, mlflow, great_expectations) are never
imported here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lakeloom.hookspecs import hookimpl
from lakeloom.runtime.context import TaskContext, current_context
from lakeloom.spec.tasktype import SpecIssue, TaskOutput, TaskType

__version__ = "0.1.0"

__all__ = [
    "__version__", "hookimpl", "TaskContext", "TaskOutput", "TaskType", "SpecIssue",
    "context", "current_context", "load_job_file", "run_job",
]

if TYPE_CHECKING:
    from lakeloom.spec.loader import load_job_file


def context() -> TaskContext:
    """The current task's context; raises RuntimeError outside a task."""
    ctx = current_context()
    if ctx is None:
        raise RuntimeError("lakeloom.context() called outside a running task")
    return ctx


def __getattr__(name: str):  # lazy re-exports keep `import lakeloom` light
    if name == "load_job_file":
        from lakeloom.spec.loader import load_job_file

        return load_job_file
    if name == "run_job":
        from lakeloom.engine.api import run_job

        return run_job
    raise AttributeError(name)
