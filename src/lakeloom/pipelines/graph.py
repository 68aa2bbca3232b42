"""Dependency discovery while an update runs, and the read interception that drives it.

On classic Spark a read of a dataset that does not exist yet fails at once, so datasets are
built on demand: while a flow's query function runs, ``spark.read.table``,
``spark.readStream.table``, ``spark.table`` and ``spark.sql`` (plus ``dlt.read*``, which use
them) are intercepted. A read naming a pipeline dataset builds that dataset first (depth
first, with cycle detection), records the edge, and then reads the real Delta table from the
pipeline's catalog and schema. Declaration order therefore does not matter. In planning mode
(dry run) a read returns the upstream dataset's analyzed DataFrame instead, so every schema
resolves without writing anything.

The patches are installed once and act only on a thread that runs a pipeline update.
"""
from __future__ import annotations

import contextvars
import itertools
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from lakeloom.catalog.names import InvalidNameError, format_name, parse_name
from lakeloom.pipelines.model import Dataset, PipelineDefinitionError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakeloom.config import Workspace
    from lakeloom.pipelines.registry import PipelineRegistry

_current: contextvars.ContextVar[UpdateGraph | None] = contextvars.ContextVar("lakeloom_pipeline_update", default=None)
_install_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}


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
    current_flow: str | None = None
    #: ``(spark_conf, values it replaced)`` of the flows running (nested when a read builds upstream).
    conf_stack: list[tuple[dict[str, Any], dict[str, str | None]]] = field(default_factory=list)
    _done: set[str] = field(default_factory=set)
    _stack: list[str] = field(default_factory=list)
    _views: int = 0

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

    def ensure(self, ds: Dataset) -> None:
        """Build ``ds`` now unless it is built already; record the edge from the dataset being built."""
        key = ds.name.lower()
        if self._stack and key not in self.edges.setdefault(self._stack[-1], []):
            self.edges[self._stack[-1]].append(key)
        if key in self._done:
            return
        if key in self.failed:
            raise UpstreamFailed(ds.name)
        if key in self._stack:
            members = self._stack[self._stack.index(key):] + [key]
            raise PipelineDefinitionError("dependency cycle between datasets: " + " -> ".join(members))
        self._stack.append(key)
        try:
            self.build(ds)
        except PipelineDefinitionError as e:
            self.failed[key] = e
            raise
        except BaseException as e:
            self.failed[key] = e
            raise UpstreamFailed(ds.name) from e
        finally:
            self._stack.pop()
        self._done.add(key)
        self.order.append(key)

    @property
    def building(self) -> str | None:
        return self._stack[-1] if self._stack else None

    def resolve_read(self, name: str, streaming: bool) -> DataFrame | None:
        ds = self.lookup(name)
        if ds is None or ds.kind == "sink":
            return None
        self.ensure(ds)
        key = ds.name.lower()
        if ds.kind == "view" or self.mode == "plan":
            return self.dataframes[key]
        target = self.qualified(ds)
        reader = _originals["stream_table"] if streaming else _originals["read_table"]
        return reader(self.session.readStream if streaming else self.session.read, target)

    def run_sql(self, query: str, args: Any, kwargs: dict[str, Any]) -> DataFrame:
        """``spark.sql`` inside an update: pipeline syntax rewritten, inputs built first."""
        from lakeloom.pipelines.autoloader import files_dataframe
        from lakeloom.pipelines.sqltext import rewrite_query

        self._views += 1
        rewritten = rewrite_query(self.substitute(query), prefix=f"__ll_src_{self._views}")
        for view, (kind, arg) in rewritten.views.items():
            if kind == "stream":
                df = self.session.readStream.table(arg)
            else:
                streaming, path, options = arg
                df = files_dataframe(self.session, streaming, path, options)
            df.createOrReplaceTempView(view)
        for name in relation_names(self.session, rewritten.sql):
            ds = self.lookup(name)
            if ds is None or ds.kind == "sink":
                continue
            self.ensure(ds)
            if (ds.kind == "view" or self.mode == "plan") and "." not in ds.name:
                self.dataframes[ds.name.lower()].createOrReplaceTempView(ds.name)
        return _originals["sql"](self.session, rewritten.sql, args, **kwargs)

    def substitute(self, query: str) -> str:
        """``${key}`` replaced by the session conf value (the pipeline's ``configuration``), as
        Spark SQL does, before lakeloom takes ``read_files`` arguments apart."""
        def value(m: re.Match[str]) -> str:
            found = self.session.conf.get(m.group(1), None)
            return m.group(0) if found is None else str(found)

        return _VARIABLE.sub(value, query)

    def raw_sql(self, query: str) -> DataFrame:
        """Run lakeloom's own SQL on the update session, bypassing dependency tracking."""
        install_read_hooks()
        return _originals["sql"](self.session, query)

    def local_path(self, path: str) -> str:
        """``/Volumes/c/s/v/...`` and ``dbfs:/`` paths mapped into the workspace."""
        if self.workspace is None:
            return path
        if path.startswith("/Volumes/"):
            return str(self.workspace.volumes_root / path[len("/Volumes/"):])
        if path.startswith("dbfs:/"):
            return str(self.workspace.dbfs_root / path[len("dbfs:/"):].lstrip("/"))
        p = Path(path.removeprefix("file:"))
        return str(p if p.is_absolute() or "://" in path else self.workspace.root / p)


_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
_RELATION = re.compile(r"'UnresolvedRelation \[([^\]]*)\]")


def relation_names(session: SparkSession, sql: str) -> list[str]:
    """Table names a query reads, from Spark's own parser (nothing is analyzed or run)."""
    try:
        tree = session._jsparkSession.sessionState().sqlParser().parsePlan(sql).treeString()
    except Exception:  # noqa: BLE001 - the real call reports the syntax error
        return []
    out = []
    for m in _RELATION.finditer(str(tree)):
        name = format_name([p.strip() for p in m.group(1).split(", ")])
        if name not in out:
            out.append(name)
    return out


def current_update() -> UpdateGraph | None:
    """The update running on this thread, if any."""
    return _current.get()


class activated:  # noqa: N801 - used as a context manager
    """``with activated(graph):`` routes this thread's reads through ``graph``."""

    def __init__(self, graph: UpdateGraph) -> None:
        self.graph = graph
        self.token: contextvars.Token[UpdateGraph | None] | None = None

    def __enter__(self) -> UpdateGraph:
        install_read_hooks()
        self.token = _current.set(self.graph)
        return self.graph

    def __exit__(self, *exc: object) -> None:
        assert self.token is not None
        _current.reset(self.token)


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


_files_views = itertools.count(1)


def _sql_with_read_files(session: Any, query: str, args: Any, kwargs: dict[str, Any]) -> DataFrame:
    """``spark.sql`` outside a pipeline with Databricks' ``read_files(...)`` table function:
    each call becomes a temporary view over the files (Spark has no such function)."""
    from lakeloom.pipelines.autoloader import files_dataframe
    from lakeloom.pipelines.sqltext import rewrite_read_files

    rewritten = rewrite_read_files(query, prefix=f"__ll_read_files_{next(_files_views)}")
    for view, (_, (streaming, path, options)) in rewritten.views.items():
        files_dataframe(session, streaming, path, options).createOrReplaceTempView(view)
    return _originals["sql"](session, rewritten.sql, args, **kwargs)


def install_read_hooks() -> None:
    """Patch pyspark's table readers and ``SparkSession.sql`` (idempotent, process-wide)."""
    from pyspark.sql import DataFrameReader, SparkSession
    from pyspark.sql.streaming import DataStreamReader

    from lakeloom.pipelines.autoloader import install_cloudfiles

    with _install_lock:
        if _originals:
            return
        _originals.update(read_table=DataFrameReader.table, stream_table=DataStreamReader.table,
                          session_table=SparkSession.table, sql=SparkSession.sql)

        def read_table(self: Any, tableName: str) -> DataFrame:  # noqa: N803 - pyspark's name
            g = _current.get()
            df = g.resolve_read(tableName, False) if g is not None else None
            return df if df is not None else _originals["read_table"](self, tableName)

        def stream_table(self: Any, tableName: str) -> DataFrame:  # noqa: N803
            g = _current.get()
            df = g.resolve_read(tableName, True) if g is not None else None
            return df if df is not None else _originals["stream_table"](self, tableName)

        def session_table(self: Any, tableName: str) -> DataFrame:  # noqa: N803
            g = _current.get()
            df = g.resolve_read(tableName, False) if g is not None else None
            return df if df is not None else _originals["session_table"](self, tableName)

        def sql(self: Any, sqlQuery: str, args: Any = None, **kwargs: Any) -> DataFrame:  # noqa: N803
            g = _current.get()
            if g is None:
                upper = sqlQuery.upper()
                if "COPY" in upper:
                    from lakeloom.runtime.copy_into import is_copy_into, run_copy_into

                    if is_copy_into(sqlQuery):
                        return run_copy_into(self, sqlQuery)
                if "READ_FILES" in upper:
                    return _sql_with_read_files(self, sqlQuery, args, kwargs)
                return _originals["sql"](self, sqlQuery, args, **kwargs)
            return g.run_sql(sqlQuery, args, kwargs)

        for fn, orig in ((read_table, DataFrameReader.table), (stream_table, DataStreamReader.table),
                         (session_table, SparkSession.table), (sql, SparkSession.sql)):
            fn.__doc__, fn.__wrapped__ = orig.__doc__, orig  # type: ignore[attr-defined]
        DataFrameReader.table = read_table  # type: ignore[method-assign]
        DataStreamReader.table = stream_table  # type: ignore[method-assign]
        SparkSession.table = session_table  # type: ignore[method-assign]
        SparkSession.sql = sql  # type: ignore[method-assign]
        install_cloudfiles()
