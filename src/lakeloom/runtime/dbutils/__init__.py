"""A Databricks-compatible ``dbutils`` for lakeloom tasks.

``dbutils`` is one object per process; each call resolves the task running on the
calling thread (``current_context()``), so parallel tasks each see their own widgets,
task values and secrets. Outside a task it behaves like the Databricks SDK's local
implementation (``taskValues.get`` needs ``debugValue``; widgets are process-local).

Also here: ``display``, ``displayHTML`` and the ``spark`` / ``sc`` proxies that the
``dbruntime`` shim hands to ``databricks.sdk.runtime``.
"""
from __future__ import annotations

from typing import Any

from lakeloom.runtime.dbutils.display import display, displayHTML
from lakeloom.runtime.dbutils.fs import FileInfo, FsUtil, MountInfo, to_local_path
from lakeloom.runtime.dbutils.jobs import JobsUtil, TaskValuesUtil
from lakeloom.runtime.dbutils.notebook import NotebookExit, NotebookRunError, NotebookUtil
from lakeloom.runtime.dbutils.proxies import LazyProxy, current_spark, sc, spark, sql, table, udf
from lakeloom.runtime.dbutils.secrets import SecretMetadata, SecretNotFound, SecretScope, SecretsUtil
from lakeloom.runtime.dbutils.widgets import InputWidgetNotDefined, WidgetsUtil
from lakeloom.runtime.shims import install_runtime_shims


class LibraryUtil:
    """``dbutils.library``: ``restartPython()`` (install with ``%pip``)."""

    def restartPython(self) -> None:
        """In a notebook: ``%restart_python`` (its variables and imported modules are dropped,
        ``spark`` stays). Elsewhere nothing to do."""
        from lakeloom.plugin_api import current_context
        from lakeloom.runtime.dbutils.notebook import RESTART_PYTHON_KEY

        ctx = current_context()
        restart = ctx.stash.get(RESTART_PYTHON_KEY, None) if ctx is not None else None
        if restart is not None:
            restart()

    def installPyPI(self, *args: Any, **kwargs: Any) -> None:
        """Refused, as on Databricks Runtime 11+: use ``%pip install``."""
        raise RuntimeError("dbutils.library.installPyPI was removed in Databricks Runtime 11: use %pip install")


class DBUtils:
    """The ``dbutils`` object: ``widgets``, ``jobs``, ``fs``, ``secrets``, ``notebook``, ``library``."""

    def __init__(self) -> None:
        self.widgets = WidgetsUtil()
        self.jobs = JobsUtil()
        self.fs = FsUtil()
        self.secrets = SecretsUtil()
        self.notebook = NotebookUtil()
        self.library = LibraryUtil()

    def help(self) -> None:
        """Print the utilities."""
        print("dbutils (lakeloom): widgets, jobs.taskValues, fs, secrets, notebook, library")

    def __repr__(self) -> str:
        return "<lakeloom dbutils>"


dbutils = DBUtils()


def getArgument(name: str, defaultValue: str | None = None) -> str | None:
    """Notebook global ``getArgument`` (deprecated Databricks alias of widgets.getArgument)."""
    return dbutils.widgets.getArgument(name, defaultValue)


def namespace_globals() -> dict[str, Any]:
    """The names a Databricks notebook starts with, bound to lakeloom's proxies."""
    return {
        "spark": spark, "sc": sc, "dbutils": dbutils, "display": display, "displayHTML": displayHTML,
        "sql": sql, "table": table, "udf": udf, "getArgument": getArgument,
    }


__all__ = [
    "DBUtils", "FileInfo", "FsUtil", "InputWidgetNotDefined", "JobsUtil", "LazyProxy", "MountInfo",
    "NotebookExit", "NotebookRunError", "NotebookUtil", "SecretMetadata", "SecretNotFound", "SecretScope",
    "SecretsUtil", "TaskValuesUtil", "WidgetsUtil", "current_spark", "dbutils", "display", "displayHTML",
    "getArgument", "install_runtime_shims", "namespace_globals", "sc", "spark", "sql", "table", "to_local_path", "udf",
]
