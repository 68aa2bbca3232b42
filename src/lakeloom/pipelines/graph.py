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

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from lakeloom.catalog.names import InvalidNameError, format_name, parse_name
from lakeloom.catalog.volumes import volume_local_path
from lakeloom.pipelines.model import Dataset, PipelineDefinitionError
from lakeloom.runtime import spark_patches
from lakeloom.runtime.autoloader import files_dataframe
from lakeloom.runtime.sqltext import Rewritten, rewrite_read_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakeloom.config import Workspace
    from lakeloom.pipelines.registry import PipelineRegistry



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
        reader = spark_patches.unpatched("stream_table" if streaming else "read_table")
        return reader(self.session.readStream if streaming else self.session.read, target)

    def run_sql(self, query: str, args: Any, kwargs: dict[str, Any]) -> DataFrame:
        """``spark.sql`` inside an update: pipeline syntax rewritten, inputs built first."""
        self._views += 1
        rewritten = rewrite_query(self.substitute(query), prefix=f"__ll_src_{self._views}")
        for view, (kind, arg) in rewritten.views.items():
            if kind == "stream":
                df = self.session.readStream.table(arg)
            else:
                streaming, path, options = arg
                df = files_dataframe(self.session, streaming, path, options, self)
            df.createOrReplaceTempView(view)
        for name in relation_names(self.session, rewritten.sql):
            ds = self.lookup(name)
            if ds is None or ds.kind == "sink":
                continue
            self.ensure(ds)
            if (ds.kind == "view" or self.mode == "plan") and "." not in ds.name:
                self.dataframes[ds.name.lower()].createOrReplaceTempView(ds.name)
        return spark_patches.unpatched("sql")(self.session, rewritten.sql, args, **kwargs)

    def substitute(self, query: str) -> str:
        """``${key}`` replaced by the session conf value (the pipeline's ``configuration``), as
        Spark SQL does, before lakeloom takes ``read_files`` arguments apart."""
        def value(m: re.Match[str]) -> str:
            found = self.session.conf.get(m.group(1), None)
            return m.group(0) if found is None else str(found)

        return _VARIABLE.sub(value, query)

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


_STREAM = re.compile(r"\bSTREAM\s*(?:\(\s*(?P<a>(?:`[^`]+`|\w+)(?:\.(?:`[^`]+`|\w+))*)\s*\)|\s(?!(?:FROM|WHERE|AS|JOIN|ON|GROUP|ORDER|LIMIT|UNION|SELECT)\b)(?P<b>(?:`[^`]+`|\w+)"
                     r"(?:\.(?:`[^`]+`|\w+))*))", re.IGNORECASE)
_LIVE = re.compile(r"\bLIVE\s*\.\s*", re.IGNORECASE)


def rewrite_query(sql: str, prefix: str = "__ll_src") -> Rewritten:
    """Replace ``[STREAM] read_files(...)``, ``STREAM(x)`` / ``STREAM x`` and ``LIVE.`` with
    temporary view names; the caller creates the views. Text inside quotes is untouched."""
    if not re.search(r"\b(STREAM|read_files|LIVE)\b", sql, re.IGNORECASE):
        return Rewritten(sql)
    out = rewrite_read_files(sql, prefix)
    text = _LIVE.sub("", out.sql)

    def stream(m: re.Match[str]) -> str:
        name = f"{prefix}_{len(out.views)}"
        out.views[name] = ("stream", (m.group("a") or m.group("b")).strip())
        return name if m.group("a") else " " + name

    out.sql = _STREAM.sub(stream, text)
    return out


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
