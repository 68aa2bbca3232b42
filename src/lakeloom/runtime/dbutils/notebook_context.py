"""The Databricks notebook context object, filled from the current TaskContext.

Databricks code reads its run context with
``dbutils.notebook.entry_point.getDbutils().notebook().getContext()`` (or, on newer
runtimes, ``dbutils.notebook.getContext()``). There the object is a py4j proxy of a
Scala ``CommandContext``: its accessors return ``Option`` values and ``tags()`` a
Scala ``Map``. The classes here copy that surface (``Option.get/isDefined/isEmpty/
getOrElse``, ``Map.get/apply/contains``, ``toJson``, ``safeToJson``) with lakeloom's
values: the job, run and task run ids, job name, task key, the executing notebook.

The context is a snapshot taken when ``getContext()`` is called. Outside a task every
Option is empty and ``tags()`` is an empty Map, so the call chain itself never fails.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lakeloom.plugin_api import StashKey, current_context

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext

_log = logging.getLogger("lakeloom.dbutils")

T = TypeVar("T")

#: ``ctx.stash`` key: stack of notebook files being executed (``%run`` pushes).
NOTEBOOK_STACK_KEY = StashKey[list[str]]()
NOTEBOOK_SUFFIXES = (".py", ".ipynb", ".sql")

#: ``clusterId`` tag: lakeloom runs every task on the local Spark session.
CLUSTER_ID = "lakeloom-local"


class NoSuchElementException(LookupError):
    """Scala's ``java.util.NoSuchElementException``: ``Option.get`` on an empty Option,
    or ``Map.apply`` of a missing key."""


class Option(Generic[T]):
    """A Scala ``Option``: ``Some(value)`` or ``None`` (empty)."""

    __slots__ = ("_defined", "_value")

    def __init__(self, value: T | None = None, defined: bool = False) -> None:
        self._value = value
        self._defined = defined

    @classmethod
    def of(cls, value: T | None) -> Option[T]:
        """``Some(value)``, or the empty Option when ``value`` is None (Scala's ``Option(x)``)."""
        return cls(value, value is not None)

    def get(self) -> T:
        """The value; raises NoSuchElementException when empty."""
        if not self._defined:
            raise NoSuchElementException("None.get")
        return self._value  # type: ignore[return-value]

    def isDefined(self) -> bool:
        return self._defined

    def isEmpty(self) -> bool:
        return not self._defined

    def nonEmpty(self) -> bool:
        return self._defined

    def getOrElse(self, default: Any) -> Any:
        """The value, or ``default`` when empty."""
        return self._value if self._defined else default

    def orNull(self) -> T | None:
        """The value, or None when empty."""
        return self._value if self._defined else None

    def __bool__(self) -> bool:
        return self._defined

    def __iter__(self) -> Iterator[T]:
        if self._defined:
            yield self._value  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Option):
            return NotImplemented
        return (self._defined, self._value) == (other._defined, other._value)

    def __hash__(self) -> int:
        return hash((self._defined, self._value))

    def toString(self) -> str:
        return f"Some({self._value})" if self._defined else "None"

    __str__ = toString
    __repr__ = toString


class RunId:
    """``currentRunId().get()``: a run id; ``id()`` is the number, ``str()`` its digits."""

    __slots__ = ("_id",)

    def __init__(self, run_id: int) -> None:
        self._id = int(run_id)

    def id(self) -> int:
        return self._id

    def __int__(self) -> int:
        return self._id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunId) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def __str__(self) -> str:
        return str(self._id)

    def __repr__(self) -> str:
        return f"RunId({self._id})"


class ScalaMap:
    """A read-only Scala ``Map[String, String]``: ``get(k)`` is an Option, ``apply(k)``
    the value or NoSuchElementException. Iterating yields the keys, as a dict does, and
    ``dict(tags)`` copies it."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str] | None = None) -> None:
        self._items = dict(items or {})

    def get(self, key: str) -> Option[str]:
        return Option(self._items[key], True) if key in self._items else Option()

    def apply(self, key: str) -> str:
        try:
            return self._items[key]
        except KeyError:
            raise NoSuchElementException(f"key not found: {key}") from None

    def contains(self, key: str) -> bool:
        return key in self._items

    def getOrElse(self, key: str, default: Any) -> Any:
        return self._items.get(key, default)

    def size(self) -> int:
        return len(self._items)

    def isEmpty(self) -> bool:
        return not self._items

    def keys(self) -> list[str]:
        return list(self._items)

    def asDict(self) -> dict[str, str]:
        """A copy as a Python dict."""
        return dict(self._items)

    def __getitem__(self, key: str) -> str:
        return self.apply(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def toString(self) -> str:
        return "Map(" + ", ".join(f"{k} -> {v}" for k, v in self._items.items()) + ")"

    __str__ = toString
    __repr__ = toString


def _notebook_path(ctx: TaskContext) -> str | None:
    """The outermost executing notebook (a ``%run`` notebook reports the one that ran it,
    as on Databricks), without its extension; None outside a notebook."""
    stack = ctx.stash.get(NOTEBOOK_STACK_KEY, None) or []
    if not stack:
        return None
    path = PurePath(stack[0])
    # Databricks workspace paths have no extension.
    return path.with_suffix("").as_posix() if path.suffix in NOTEBOOK_SUFFIXES else path.as_posix()


def _notebook_id(path: str) -> int:
    """A stable numeric id for a notebook path (Databricks notebook ids are numbers)."""
    return int(hashlib.sha1(path.encode()).hexdigest()[:13], 16)


def _run_as(ctx: TaskContext) -> str | None:
    """The principal the run runs as (its ``run_as``, else that of the run which started it),
    when the engine driving it has a run store; None otherwise."""
    store = getattr(getattr(ctx.services, "engine", None), "store", None)
    get_run = getattr(store, "get_run", None)
    if get_run is None:
        return None
    run_id: int | None = ctx.run_id
    try:
        for _ in range(32):  # a chain of child runs is short; the bound guards against a cycle
            row = get_run(run_id) if run_id is not None else None
            if not row:
                return None
            if row.run_as:
                return str(row.run_as)
            run_id = row.parent_run_id
    except Exception:  # noqa: BLE001 - a user name is not worth failing the notebook over
        _log.debug("could not read run_as of run %s", ctx.run_id, exc_info=True)
    return None


def _local_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER variables
        return None


def _api_url(ctx: TaskContext) -> str | None:
    """The ``lakeloom serve`` URL when the workspace config sets one (``server.public_url``,
    ``host`` or ``port``): that server answers the Jobs API like a Databricks workspace."""
    server = ctx.workspace.server
    if any(server.get(k) for k in ("public_url", "host", "port")):
        return ctx.workspace.public_url
    return None


class NotebookContext:
    """The ``getContext()`` object: Scala-style accessors over one TaskContext snapshot.

    Every accessor returns an :class:`Option`; ``tags()`` and ``extraContext()`` return
    a :class:`ScalaMap` of strings. ``ctx`` None (outside a task) gives empty Options.
    """

    def __init__(self, ctx: TaskContext | None) -> None:
        self._job_id: int | None = None
        self._job_run_id: int | None = None
        self._run_id: int | None = None
        self._job_group: str | None = None
        self._notebook_path: str | None = None
        self._notebook_id: int | None = None
        self._user: str | None = None
        self._api_url: str | None = None
        self._tags: dict[str, str] = {}
        if ctx is None:
            return
        self._job_id, self._job_run_id, self._run_id = ctx.job_id, ctx.run_id, ctx.task_run_id
        self._job_group = ctx.job_group
        self._notebook_path = _notebook_path(ctx)
        self._notebook_id = _notebook_id(self._notebook_path) if self._notebook_path else None
        self._user = _run_as(ctx) or _local_user()
        self._api_url = _api_url(ctx)
        tags = {
            "jobId": ctx.job_id, "jobName": ctx.job_name, "runId": ctx.task_run_id,
            "multitaskParentRunId": ctx.run_id, "taskKey": ctx.task_key, "clusterId": CLUSTER_ID,
            "orgId": ctx.workspace.workspace_id, "user": self._user, "notebookId": self._notebook_id,
        }
        self._tags = {k: str(v) for k, v in tags.items() if v is not None}

    # --- Scala accessors -----------------------------------------------------------------

    def notebookPath(self) -> Option[str]:
        """The executing notebook's path without extension (the outer one under ``%run``);
        empty in scripts and wheels."""
        return Option.of(self._notebook_path)

    def notebookId(self) -> Option[int]:
        """A stable number derived from the notebook's path; empty outside notebooks."""
        return Option.of(self._notebook_id)

    def currentRunId(self) -> Option[RunId]:
        """The task run id (the ``run_id`` of this task in the Jobs API ``Run``)."""
        return Option.of(RunId(self._run_id) if self._run_id is not None else None)

    def rootRunId(self) -> Option[RunId]:
        """Always empty: the root run id only exists for interactive command runs."""
        return Option()

    def jobId(self) -> Option[int]:
        return Option.of(self._job_id)

    def jobRunId(self) -> Option[int]:
        """The job run id (the task run's multitask parent)."""
        return Option.of(self._job_run_id)

    multitaskParentRunId = jobRunId

    def jobGroup(self) -> Option[str]:
        """The Spark job group of this task attempt."""
        return Option.of(self._job_group)

    def clusterId(self) -> Option[str]:
        return Option.of(CLUSTER_ID if self._run_id is not None else None)

    def userName(self) -> Option[str]:
        """The run's ``run_as`` principal, else the local user running lakeloom."""
        return Option.of(self._user)

    def apiUrl(self) -> Option[str]:
        """The ``lakeloom serve`` URL when configured; empty otherwise."""
        return Option.of(self._api_url)

    def apiToken(self) -> Option[str]:
        """Always empty: lakeloom hands no API token to tasks."""
        return Option()

    def browserHostName(self) -> Option[str]:
        """Always empty."""
        return Option()

    def tags(self) -> ScalaMap:
        """``jobId``, ``jobName``, ``runId`` (task run), ``multitaskParentRunId`` (job run),
        ``taskKey``, ``user``, ``clusterId``, ``orgId`` and, in notebooks, ``notebookId``."""
        return ScalaMap(self._tags)

    def extraContext(self) -> ScalaMap:
        """``notebook_path`` and ``api_url`` when known."""
        extra = {"notebook_path": self._notebook_path, "api_url": self._api_url}
        return ScalaMap({k: v for k, v in extra.items() if v is not None})

    # --- JSON ----------------------------------------------------------------------------

    def toJson(self) -> str:
        """The context as Databricks' ``toJson()`` shapes it (every tag a string)."""
        return json.dumps({
            "rootRunId": None,
            "currentRunId": {"id": self._run_id} if self._run_id is not None else None,
            "jobGroup": self._job_group,
            "tags": dict(self._tags),
            "extraContext": self.extraContext().asDict(),
        })

    def safeToJson(self) -> str:
        """``{"attributes": {...}}``: the non-secret attributes, flattened, as strings."""
        attributes = {
            "notebook_path": self._notebook_path, "notebook_id": self._tags.get("notebookId"),
            "job_id": self._tags.get("jobId"), "job_name": self._tags.get("jobName"),
            "current_run_id": self._tags.get("runId"),
            "multitask_parent_run_id": self._tags.get("multitaskParentRunId"),
            "task_key": self._tags.get("taskKey"), "user": self._user,
            "cluster_id": self._tags.get("clusterId"), "api_url": self._api_url,
        }
        return json.dumps({"attributes": {k: v for k, v in attributes.items() if v is not None}})

    def __repr__(self) -> str:
        return f"<lakeloom notebook context {self.toJson()}>"


def current_notebook_context() -> NotebookContext:
    """A snapshot of the calling task's context (empty outside a task)."""
    return NotebookContext(current_context())


class _ScalaNotebook:
    """``entry_point.getDbutils().notebook()``."""

    def getContext(self) -> NotebookContext:
        return current_notebook_context()


class _ScalaDbutils:
    """``entry_point.getDbutils()``."""

    def notebook(self) -> _ScalaNotebook:
        return _ScalaNotebook()


class EntryPoint:
    """``dbutils.notebook.entry_point``: the py4j gateway's entry point on Databricks;
    here only ``getDbutils().notebook().getContext()``."""

    def getDbutils(self) -> _ScalaDbutils:
        return _ScalaDbutils()

    def __repr__(self) -> str:
        return "<lakeloom dbutils entry_point>"


__all__ = ["CLUSTER_ID", "EntryPoint", "NoSuchElementException", "NotebookContext", "Option", "RunId", "ScalaMap",
           "current_notebook_context"]
