"""Dependency discovery while an update runs, and the read interception that drives it.

On classic Spark a read of a dataset that does not exist yet fails at once, so datasets are
built on demand: while a flow's query function runs, ``spark.read.table``,
``spark.readStream.table``, ``spark.table`` and ``spark.sql`` (plus ``dlt.read*``, which use
them) are intercepted. A read naming a pipeline dataset builds that dataset first (depth
first, with cycle detection), records the edge, and then reads the real Delta table from the
pipeline's catalog and schema. Declaration order therefore does not matter. In planning mode
(dry run) a read returns the upstream dataset's analyzed DataFrame instead, so every schema
resolves without writing anything.

The interception itself is :mod:`lakeloom.runtime.spark_patches`; an update registers its
graph there as the thread's read router (:class:`activated`), so it acts only on a thread that
runs a pipeline update.
"""
from __future__ import annotations

import datetime
import itertools
import re
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from lakeloom.catalog.names import InvalidNameError, format_name, parse_name
from lakeloom.catalog.volumes import volume_local_path
from lakeloom.pipelines.concurrency import FlowSlots
from lakeloom.pipelines.model import Dataset, PipelineDefinitionError
from lakeloom.pipelines.sql_tables import VARIABLE, relation_names, rewrite_query
from lakeloom.runtime import spark_patches
from lakeloom.runtime.autoloader import files_dataframe, metadata_view, without_metadata

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakeloom.config import Workspace
    from lakeloom.pipelines.registry import PipelineRegistry



__all__ = ["UpdateGraph", "UpstreamFailed", "activated", "active_session", "relation_names", "rewrite_query"]


class UpstreamFailed(Exception):
    """A dataset could not be read because it (or one of its own inputs) failed in this update."""

    def __init__(self, dataset: str) -> None:
        super().__init__(f"upstream dataset {dataset!r} failed in this update")
        self.dataset = dataset


@dataclass
class UpdateGraph:
    """The datasets of one update, built on demand in dependency order."""

    registry: PipelineRegistry
    session: SparkSession
    catalog: str
    schema: str
    mode: Literal["run", "plan"]
    build: Callable[[Dataset], None]
    storage: Path
    workspace: Workspace | None = None
    dataframes: dict[str, DataFrame] = field(default_factory=dict)
    edges: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    failed: dict[str, BaseException] = field(default_factory=dict)
    #: Caps how many datasets are built at once (:mod:`lakeloom.pipelines.concurrency`).
    slots: FlowSlots = field(default_factory=lambda: FlowSlots(1))
    #: Whether building a dataset needs the session to itself (its flows set ``spark_conf``).
    exclusive: Callable[[Dataset], bool] = lambda ds: False
    #: FAIR pool name prefix of the datasets' Spark jobs (``None``: the caller's pool).
    pool_prefix: str | None = None
    #: ``DESCRIBE DETAIL`` answers (local folder, change feed on) per table, for this update.
    details: dict[str, tuple[Path | None, bool]] = field(default_factory=dict)
    #: When the update started (UTC): the version of snapshots taken of a table in this update.
    started: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    _done: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Datasets being built: key -> (builder thread id, event set when it is done or failed).
    _building: dict[str, tuple[int, threading.Event]] = field(default_factory=dict)
    #: Thread id -> the dataset key it waits for (to find cycles that span threads).
    _waiting: dict[int, str] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _view_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def _stack(self) -> list[str]:
        """The datasets this thread is building, outermost first."""
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @property
    def conf_stack(self) -> list[tuple[dict[str, Any], dict[str, str | None]]]:
        """``(spark_conf, values it replaced)`` of the flows this thread runs (nested when a read
        builds upstream)."""
        stack = getattr(self._local, "conf_stack", None)
        if stack is None:
            stack = self._local.conf_stack = []
        return stack

    @property
    def current_flow(self) -> str | None:
        """The flow this thread runs."""
        return getattr(self._local, "flow", None)

    @current_flow.setter
    def current_flow(self, value: str | None) -> None:
        self._local.flow = value

    def view_name(self, prefix: str) -> str:
        """A temporary view name unique in this update."""
        return f"{prefix}_{next(self._view_ids)}"

    def lookup(self, name: str) -> Dataset | None:
        """The pipeline dataset a table name refers to (1-, 2- or 3-part, ``LIVE.`` allowed)."""
        name = re.sub(r"^\s*LIVE\s*\.", "", name, flags=re.IGNORECASE)
        ds = self.registry.datasets.get(name.lower())
        if ds is not None:
            return ds
        try:
            parts = parse_name(name)
        except InvalidNameError:
            return None
        if len(parts) == 3 and parts[0] != self.catalog.lower():
            return None
        if len(parts) >= 2 and parts[-2] != self.schema.lower():
            return None
        return self.registry.datasets.get(parts[-1]) if len(parts) in (2, 3) else None

    def qualified(self, ds: Dataset) -> str:
        """``catalog.schema.name`` of a stored dataset."""
        parts = parse_name(ds.name)
        if len(parts) == 1:
            parts = (self.catalog.lower(), self.schema.lower(), parts[0])
        elif len(parts) == 2:
            parts = (self.catalog.lower(), *parts)
        return format_name(parts)

    def upstream_seconds(self) -> float:
        """Seconds this thread spent building or waiting for upstream datasets (a flow's own
        time excludes them)."""
        return float(getattr(self._local, "upstream", 0.0))

    def ensure(self, ds: Dataset) -> None:
        """Build ``ds`` now unless it is built already; record the edge from the dataset being built.

        Another thread building ``ds`` is waited for (this thread's slot is given back meanwhile)."""
        start, before = time.perf_counter(), self.upstream_seconds()
        try:
            self._ensure(ds)
        finally:
            if self._stack:
                self._local.upstream = before + time.perf_counter() - start

    def _ensure(self, ds: Dataset) -> None:
        key = ds.name.lower()
        stack, me = self._stack, threading.get_ident()
        while True:
            with self._lock:
                if stack and key not in self.edges.setdefault(stack[-1], []):
                    self.edges[stack[-1]].append(key)
                if key in self._done:
                    return
                if key in self.failed:
                    failure = self.failed[key]
                    if isinstance(failure, PipelineDefinitionError):
                        raise failure
                    raise UpstreamFailed(ds.name)
                if key in stack:
                    members = stack[stack.index(key):] + [key]
                    raise PipelineDefinitionError("dependency cycle between datasets: " + " -> ".join(members))
                owner = self._building.get(key)
                if owner is None:
                    self._building[key] = (me, threading.Event())
                    break
                cycle = self._cycle_through(key, me)
                if cycle:
                    raise PipelineDefinitionError("dependency cycle between datasets: "
                                                  + " -> ".join(stack[-1:] + cycle))
                self._waiting[me] = key
            try:
                with self.slots.suspended():
                    owner[1].wait()
            finally:
                with self._lock:
                    self._waiting.pop(me, None)
        stack.append(key)
        try:
            with self.slots.hold(self.exclusive(ds)), self._in_pool(key):
                self.build(ds)
        except PipelineDefinitionError as e:
            self._finish(key, e)
            raise
        except BaseException as e:
            self._finish(key, e)
            raise UpstreamFailed(ds.name) from e
        finally:
            stack.pop()
        self._finish(key, None)

    @contextmanager
    def _in_pool(self, key: str) -> Iterator[None]:
        """The dataset's Spark jobs in its own FAIR pool (concurrent updates only)."""
        if self.pool_prefix is None:
            yield
            return
        from lakeloom.pipelines.concurrency import in_pool

        with in_pool(self.session, f"{self.pool_prefix}{key}"):
            yield

    def _finish(self, key: str, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self._done.add(key)
                self.order.append(key)
            else:
                self.failed[key] = error
            _, event = self._building.pop(key)
        event.set()

    def _cycle_through(self, key: str, me: int) -> list[str]:
        """The datasets of a cycle if waiting for ``key`` would wait for this thread (under the lock)."""
        chain = [key]
        owner = self._building[key][0]
        while owner != me:
            waits_for = self._waiting.get(owner)
            if waits_for is None or waits_for not in self._building:
                return []
            chain.append(waits_for)
            owner = self._building[waits_for][0]
        return chain

    @property
    def building(self) -> str | None:
        return self._stack[-1] if self._stack else None

    @contextmanager
    def tracking_reads(self) -> Iterator[list[str]]:
        """The tables the flow running on this thread reads in the block (keys of pipeline
        tables; ``external:``/``view:`` entries for reads lakeloom cannot follow). Reads made
        while an upstream dataset is built on the way are not the flow's own."""
        reads: list[str] = []
        saved = getattr(self._local, "track", None)
        self._local.track = (len(self._stack), reads)
        try:
            yield reads
        finally:
            self._local.track = saved

    @contextmanager
    def substituted(self, frames: dict[str, DataFrame]) -> Iterator[None]:
        """Reads of these datasets (by key) return the given DataFrames in the block (how a
        materialized view's query is evaluated over its sources' changes)."""
        saved = getattr(self._local, "subst", None)
        self._local.subst = frames
        try:
            yield
        finally:
            self._local.subst = saved

    def _note_read(self, entry: str) -> None:
        track = getattr(self._local, "track", None)
        if track is not None and track[0] == len(self._stack):
            track[1].append(entry)

    def resolve_read(self, name: str, streaming: bool) -> DataFrame | None:
        ds = self.lookup(name)
        if ds is None or ds.kind == "sink":
            self._note_read(f"external:{name}")
            return None
        key = ds.name.lower()
        subst = getattr(self._local, "subst", None)
        if subst is not None and key in subst:
            return subst[key]
        self.ensure(ds)
        self._note_read(key if ds.stored else f"view:{key}")
        if ds.kind == "view" or self.mode == "plan":
            return self.dataframes[key]
        target = self.qualified(ds)
        reader = spark_patches.unpatched("stream_table" if streaming else "read_table")
        return reader(self.session.readStream if streaming else self.session.read, target)

    def run_sql(self, query: str, args: Any, kwargs: dict[str, Any]) -> DataFrame:
        """``spark.sql`` inside an update: pipeline syntax rewritten, inputs built first."""
        rewritten = rewrite_query(self.substitute(query), prefix=self.view_name("__ll_src"))
        for view, (kind, arg) in rewritten.views.items():
            if kind == "stream":
                df = self.session.readStream.table(arg)
            else:
                streaming, path, options = arg
                df = metadata_view(files_dataframe(self.session, streaming, path, options, self), rewritten.sql)
            df.createOrReplaceTempView(view)
        subst = getattr(self._local, "subst", None)
        replaced: dict[str, str] = {}
        for name in relation_names(self.session, rewritten.sql):
            ds = self.lookup(name)
            if ds is None or ds.kind == "sink":
                self._note_read(f"external:{name}")
                continue
            if subst is not None and ds.name.lower() in subst:
                replaced[name] = self.view_name("__ll_changes")
                subst[ds.name.lower()].createOrReplaceTempView(replaced[name])
                continue
            self.ensure(ds)
            self._note_read(ds.name.lower() if ds.stored else f"view:{ds.name.lower()}")
            if (ds.kind == "view" or self.mode == "plan") and "." not in ds.name:
                self.dataframes[ds.name.lower()].createOrReplaceTempView(ds.name)
        sql = rewritten.sql
        if replaced:
            from lakeloom.pipelines.sql_tables import replace_tables

            sql = replace_tables(sql, replaced)
        result = spark_patches.unpatched("sql")(self.session, sql, args, **kwargs)
        return without_metadata(result) if rewritten.views else result

    def substitute(self, query: str) -> str:
        """``${key}`` replaced by the session conf value (the pipeline's ``configuration``), as
        Spark SQL does, before lakeloom takes ``read_files`` arguments apart."""
        def value(m: re.Match[str]) -> str:
            found = self.session.conf.get(m.group(1), None)
            return m.group(0) if found is None else str(found)

        return VARIABLE.sub(value, query)

    def raw_sql(self, query: str) -> DataFrame:
        """Run lakeloom's own SQL on the update session, bypassing dependency tracking."""
        return spark_patches.unpatched("sql")(self.session, query)

    @property
    def dry_run(self) -> bool:
        """Planning only (``lakeloom pipeline dry-run``): nothing is written."""
        return self.mode == "plan"

    def autoloader_schema_location(self) -> str | None:
        """Auto Loader's default schema folder: per flow under the pipeline's storage (none in a dry run)."""
        if self.mode != "run":
            return None
        return str(self.storage / "autoloader" / (self.current_flow or "default"))

    def local_path(self, path: str) -> str:
        """``/Volumes/c/s/v/...`` and ``dbfs:/`` paths mapped into the workspace; other schemes
        (``s3://...``) are left to Spark. A volume path needs its volume (``[UC_VOLUME_NOT_FOUND]``)."""
        if self.workspace is None:
            return path
        try:
            return str(volume_local_path(self.workspace, path))
        except ValueError:
            return path


def activated(graph: UpdateGraph) -> AbstractContextManager[UpdateGraph]:
    """``with activated(graph):`` routes this thread's reads through ``graph``."""
    return spark_patches.routed(graph)  # type: ignore[return-value]


class active_session:  # noqa: N801 - a context manager
    """Make ``session`` the active session (Python and JVM) while the update runs."""

    def __init__(self, session: SparkSession, parent: SparkSession) -> None:
        self.session, self.parent = session, parent

    def __enter__(self) -> None:
        from pyspark.sql import SparkSession

        self.saved = SparkSession._activeSession
        SparkSession._activeSession = self.session
        SparkSession._get_j_spark_session_class(self.session._jvm).setActiveSession(self.session._jsparkSession)

    def __exit__(self, *exc: object) -> None:
        from pyspark.sql import SparkSession

        restored = self.saved or self.parent
        SparkSession._activeSession = restored
        SparkSession._get_j_spark_session_class(restored._jvm).setActiveSession(restored._jsparkSession)
