"""``dbutils.jobs.taskValues`` with Databricks semantics, inside and outside a run."""
from __future__ import annotations

import logging
from typing import Any

from lakeloom.plugin_api import current_context

_log = logging.getLogger("lakeloom.dbutils")


class TaskValuesUtil:
    """``dbutils.jobs.taskValues``: pass small JSON values between the tasks of a run."""

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` for downstream tasks (JSON-serializable, at most 48 KiB).

        Outside a run this only checks the value, as the Databricks SDK's local
        implementation does nothing.
        """
        ctx = current_context()
        if ctx is None:
            import json

            json.dumps(value)
            _log.info("taskValues.set(%r) outside a lakeloom run: not stored", key)
            return
        ctx.task_values.set(key, value)

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:
        """Read ``key`` set by task ``taskKey`` in this run.

        In a run: the value; ``default`` when it was not set; ValueError when it was
        not set and ``default`` is None. Outside a run: ``debugValue``, or TypeError
        when it is None (the SDK's behaviour).
        """
        ctx = current_context()
        if ctx is None:
            if debugValue is None:
                raise TypeError(
                    "Must pass debugValue when calling get outside of a job context. debugValue cannot be None.")
            return debugValue
        if default is None:
            return ctx.task_values.get(taskKey, key)
        return ctx.task_values.get(taskKey, key, default)

    def help(self, method: str | None = None) -> None:
        """Print the methods of this utility."""
        print("dbutils.jobs.taskValues: set(key, value), get(taskKey, key, default=None, debugValue=None)")


class JobsUtil:
    """``dbutils.jobs``."""

    def __init__(self) -> None:
        self.taskValues = TaskValuesUtil()

    def help(self, method: str | None = None) -> None:
        """Print the sub-utilities."""
        print("dbutils.jobs: taskValues")
