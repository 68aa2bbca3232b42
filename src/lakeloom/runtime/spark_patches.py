"""Every change lakeloom makes to pyspark's and delta-spark's Python classes, in one place.

:func:`install` runs once per process, when a run's Spark session starts, and teaches every
task what Databricks code expects:

- ``SparkSession.sql``: ``COPY INTO`` (:mod:`lakeloom.runtime.copy_into`) and the
  ``read_files(...)`` table function (:mod:`lakeloom.runtime.sqltext`), which Spark cannot parse;
- ``DataStreamReader.format("cloudFiles")``: Auto Loader (:mod:`lakeloom.runtime.autoloader`);
- ``DataFrameReader.table``, ``DataStreamReader.table``, ``SparkSession.table`` and
  ``SparkSession.sql`` consult the :class:`ReadRouter` registered on the calling thread
  (:func:`routed`). Declarative pipelines register their update graph this way, to build a
  dataset before it is read;
- ``DataFrame.display`` (Databricks' ``df.display()``);
- ``delta.tables.DeltaTable.forName`` qualifies 1- and 2-part names as SQL does;
- ``pyspark.sql.functions.udf`` of a callable that takes no argument is a plain Python UDF
  (pyspark 4.2 counts a bound method's ``self`` and may infer an aggregate from its type hints).

Without a router, a patched call does what pyspark does. Importing this module does not
import pyspark.
"""
from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_router: contextvars.ContextVar[ReadRouter | None] = contextvars.ContextVar("lakeloom_read_router", default=None)
_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}
_CLOUDFILES_STATE = "_ll_cloudfiles"
_DELTA_MARK = "_lakeloom_qualifies_names"
_files_views = itertools.count(1)


class ReadRouter(Protocol):
    """What a component that takes over table reads on a thread provides (a pipeline update)."""

    @property
    def dry_run(self) -> bool:
        """True while only planning: Auto Loader then writes no schema file."""

    def resolve_read(self, name: str, streaming: bool) -> DataFrame | None:
        """The DataFrame for a table read, or ``None`` to let Spark read the table itself."""

    def run_sql(self, query: str, args: Any, kwargs: dict[str, Any]) -> DataFrame:
        """Run ``spark.sql(query, args, **kwargs)`` (call :func:`unpatched` ``("sql")`` to reach Spark)."""

    def local_path(self, path: str) -> str:
        """The local file a Databricks path (``/Volumes/...``, ``dbfs:/...``) stands for."""

    def autoloader_schema_location(self) -> str | None:
        """Where Auto Loader keeps an inferred schema when the stream names no ``schemaLocation``."""


def current_router() -> ReadRouter | None:
    """The router registered on this thread (context), if any."""
    return _router.get()


@contextmanager
def routed(router: ReadRouter) -> Iterator[ReadRouter]:
    """Route this thread's table reads and ``spark.sql`` through ``router`` inside the block."""
    install()
    token = _router.set(router)
    try:
        yield router
    finally:
        _router.reset(token)


def unpatched(name: str) -> Callable[..., Any]:
    """pyspark's own method behind a patch: ``"sql"``, ``"read_table"``, ``"stream_table"``,
    ``"session_table"``, or a ``DataStreamReader`` method (``"format"``, ``"option"``, ``"load"``, ...)."""
    install()
    return _originals[name]


def install() -> None:
    """Apply every patch (idempotent, process-wide, thread-safe)."""
    with _lock:
        if _originals:
            return
        _patch_table_reads_and_sql()
        _patch_cloudfiles()
        _patch_dataframe_display()
        _patch_delta_for_name()
        _patch_udf_type_inference()


def _sql_outside_router(session: Any, query: str, args: Any, kwargs: dict[str, Any]) -> DataFrame:
    upper = query.upper()
    if "COPY" in upper:
        from lakeloom.runtime.copy_into import is_copy_into, run_copy_into

        if is_copy_into(query):
            return run_copy_into(session, query)
    if "READ_FILES" in upper:
        from lakeloom.runtime.autoloader import files_dataframe, metadata_view, without_metadata
        from lakeloom.runtime.sqltext import rewrite_read_files

        rewritten = rewrite_read_files(query, prefix=f"__ll_read_files_{next(_files_views)}")
        for view, (_, (streaming, path, options)) in rewritten.views.items():
            metadata_view(files_dataframe(session, streaming, path, options), rewritten.sql).createOrReplaceTempView(view)
        if rewritten.views:
            return without_metadata(_originals["sql"](session, rewritten.sql, args, **kwargs))
        query = rewritten.sql
    return _originals["sql"](session, query, args, **kwargs)


def _patch_table_reads_and_sql() -> None:
    from pyspark.sql import DataFrameReader, SparkSession
    from pyspark.sql.streaming import DataStreamReader

    _originals.update(read_table=DataFrameReader.table, stream_table=DataStreamReader.table,
                      session_table=SparkSession.table, sql=SparkSession.sql)

    def reader(key: str, streaming: bool) -> Callable[..., DataFrame]:
        def table(self: Any, tableName: str) -> DataFrame:  # noqa: N803 - pyspark's name
            r = _router.get()
            df = r.resolve_read(tableName, streaming) if r is not None else None
            return df if df is not None else _originals[key](self, tableName)

        return table

    def sql(self: Any, sqlQuery: str, args: Any = None, **kwargs: Any) -> DataFrame:  # noqa: N803
        r = _router.get()
        if r is None:
            return _sql_outside_router(self, sqlQuery, args, kwargs)
        return r.run_sql(sqlQuery, args, kwargs)

    for cls, name, key, fn in ((DataFrameReader, "table", "read_table", reader("read_table", False)),
                               (DataStreamReader, "table", "stream_table", reader("stream_table", True)),
                               (SparkSession, "table", "session_table", reader("session_table", False)),
                               (SparkSession, "sql", "sql", sql)):
        fn.__doc__, fn.__wrapped__ = _originals[key].__doc__, _originals[key]  # type: ignore[attr-defined]
        setattr(cls, name, fn)


def _patch_udf_type_inference() -> None:
    """pyspark 4.2's ``udf`` infers an eval type from type hints and, through ``getfullargspec``,
    counts a bound method's ``self`` as an argument: ``F.udf(fake.first_name)`` (Faker, no
    argument, ``-> str``) becomes a grouped aggregate UDF and its query fails with
    ``MISSING_GROUP_BY``. SPARK-53671 meant every callable without arguments to stay a plain UDF."""
    import inspect

    from pyspark.sql.pandas import typehints

    original = typehints.infer_eval_type_for_udf
    _originals["infer_eval_type_for_udf"] = original

    def infer_eval_type_for_udf(f: Any) -> Any:
        try:
            if not inspect.signature(f).parameters:
                return None
        except (TypeError, ValueError):  # no signature to read: leave it to pyspark
            pass
        return original(f)

    infer_eval_type_for_udf.__doc__, infer_eval_type_for_udf.__wrapped__ = (  # type: ignore[attr-defined]
        original.__doc__, original)
    typehints.infer_eval_type_for_udf = infer_eval_type_for_udf


def _patch_cloudfiles() -> None:
    """``readStream.format("cloudFiles")`` collects options and schema; ``load`` builds the stream."""
    from pyspark.sql.streaming import DataStreamReader

    from lakeloom.runtime.autoloader import AutoLoaderError, cloudfiles_stream

    _originals.update(format=DataStreamReader.format, option=DataStreamReader.option,
                      options=DataStreamReader.options, schema=DataStreamReader.schema,
                      load=DataStreamReader.load)

    def state(self: Any) -> dict[str, Any] | None:
        return self.__dict__.get(_CLOUDFILES_STATE)

    def format(self: Any, source: str) -> Any:  # noqa: A001 - pyspark's name
        if str(source).lower() == "cloudfiles":
            self.__dict__[_CLOUDFILES_STATE] = {"options": {}, "schema": None}
            return self
        return _originals["format"](self, source)

    def option(self: Any, key: str, value: Any) -> Any:
        st = state(self)
        if st is None:
            return _originals["option"](self, key, value)
        st["options"][key] = "true" if value is True else "false" if value is False else str(value)
        return self

    def options(self: Any, **opts: Any) -> Any:
        for k, v in opts.items():
            option(self, k, v)
        return self

    def schema(self: Any, schema: Any) -> Any:
        st = state(self)
        if st is None:
            return _originals["schema"](self, schema)
        st["schema"] = schema
        return self

    def load(self: Any, path: str | None = None, format: str | None = None,  # noqa: A002
             schema: Any = None, **opts: Any) -> Any:
        if format is not None:
            self.format(format)
        st = state(self)
        if st is None:
            return _originals["load"](self, path, None, schema, **opts)
        if schema is not None:
            st["schema"] = schema
        options(self, **opts)
        if not path:
            raise AutoLoaderError("Auto Loader (cloudFiles) needs a path: .load(path)")
        return cloudfiles_stream(self._spark, path, st["options"], st["schema"], _router.get())

    for name, fn in (("format", format), ("option", option), ("options", options), ("schema", schema),
                     ("load", load)):
        fn.__doc__ = _originals[name].__doc__
        setattr(DataStreamReader, name, fn)


def _patch_dataframe_display() -> None:
    """Databricks' ``df.display()``, the same as ``display(df)``; a ``display`` that something
    else defined is left alone."""
    from pyspark.sql.dataframe import DataFrame

    from lakeloom.runtime.dbutils.display import display

    if "display" not in DataFrame.__dict__:
        def _display(self: Any, *args: Any, **kwargs: Any) -> None:
            display(self, *args, **kwargs)

        _display.__doc__ = "Show the DataFrame as ``display(df)`` does (Databricks' DataFrame.display)."
        DataFrame.display = _display  # type: ignore[attr-defined]


def _patch_delta_for_name() -> None:
    """Delta's ``DeltaTable.forName`` only asks the current catalog for 3-part names; shorter ones
    go straight to ``spark_catalog``, where lakeloom tables do not live. Qualify them first with
    the session's current catalog and schema, so ``forName(spark, "sales.orders")`` works after
    ``USE CATALOG main`` as on Databricks."""
    try:
        from delta.tables import DeltaTable
    except ImportError:  # delta-spark's Python package is optional for the catalog itself
        return

    from lakeloom.catalog.shims import qualify_for_session

    if getattr(DeltaTable.forName, _DELTA_MARK, False):
        return
    original = DeltaTable.forName.__func__  # type: ignore[attr-defined]

    def forName(cls: Any, sparkSession: Any, tableOrViewName: str) -> Any:  # noqa: N802 (Delta's name)
        return original(cls, sparkSession, qualify_for_session(sparkSession, tableOrViewName))

    forName.__doc__ = original.__doc__
    setattr(forName, _DELTA_MARK, True)
    DeltaTable.forName = classmethod(forName)  # type: ignore[method-assign]
