"""Running the flows of one dataset: materialized views, streaming tables, Auto CDC, sinks.

Materialized views are recomputed and swapped in with ``CREATE OR REPLACE TABLE AS SELECT``
(one Delta commit, so readers see the old or the new content, never a mix). Streaming
flows are Structured Streaming queries with a checkpoint per flow under the pipeline's
storage and an ``availableNow`` trigger: each update processes what arrived since the last
one and stops.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from lakeloom.pipelines.expectations import (
    Expectation,
    ExpectationMetrics,
    apply_expectations,
    measure_expectations,
    metrics_from_row,
    obs_name,
    violation_message,
)
from lakeloom.pipelines.model import Dataset, FlowDef, PipelineDefinitionError
from lakeloom.pipelines.mv_state import CDF_PROPERTY, catalog_location

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

    from lakeloom.pipelines.graph import UpdateGraph


class FlowError(Exception):
    """A flow failed; the message names the dataset and flow."""


@dataclass
class FlowResult:
    """What one flow did in this update."""

    flow: str
    dataset: str
    status: str = "COMPLETED"
    rows_written: int = 0
    mode: str = ""
    metrics: ExpectationMetrics | None = None
    expectations: list[Expectation] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    #: Materialized views: how this refresh was done and why (:mod:`lakeloom.pipelines.mv_refresh`).
    planning: dict[str, Any] | None = None


def checkpoint_dir(storage: Path, ds: Dataset, flow: FlowDef) -> Path:
    return storage / "checkpoints" / ds.name.lower() / flow.name.lower()


@contextmanager
def flow_conf(graph: UpdateGraph, ds: Dataset, flow: FlowDef) -> Iterator[None]:
    """The dataset's and flow's ``spark_conf`` set on the update session while the flow runs.

    A read can build an upstream dataset in the middle of a downstream flow; the settings of
    the flows being built around it are taken away while it runs and put back afterwards, so a
    flow only ever sees the update's configuration plus its own ``spark_conf``."""
    conf = {**ds.spark_conf, **flow.spark_conf}
    session = graph.session
    baseline: dict[str, str | None] = {}
    for outer_conf, outer_saved in graph.conf_stack:
        for k in outer_conf:
            baseline.setdefault(k, outer_saved[k])
    outer_values = {k: session.conf.get(k, None) for k in baseline}
    _set_conf(session, baseline)
    saved = {k: session.conf.get(k, None) for k in conf}
    _set_conf(session, {k: str(v) for k, v in conf.items()})
    graph.conf_stack.append((conf, saved))
    previous, graph.current_flow = graph.current_flow, flow.name
    try:
        yield
    finally:
        graph.current_flow = previous
        graph.conf_stack.pop()
        _set_conf(session, saved)
        _set_conf(session, outer_values)


def _set_conf(session: Any, values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            session.conf.unset(k)
        else:
            session.conf.set(k, v)


def query_dataframe(graph: UpdateGraph, ds: Dataset, flow: FlowDef) -> DataFrame:
    """Call the flow's query (Python function or SQL) and check it returned a DataFrame."""
    from pyspark.sql import DataFrame

    if flow.sql is not None:
        df = graph.session.sql(flow.sql)
    else:
        assert flow.func is not None
        df = flow.func()
    if not isinstance(df, DataFrame):
        raise PipelineDefinitionError(f"{flow.location or ds.location}: the query function of {flow.label} must "
                                      f"return a DataFrame, got {type(df).__name__}")
    return df


def conform(graph: UpdateGraph, ds: Dataset, df: DataFrame) -> DataFrame:
    """Select and cast to the dataset's declared ``schema`` (when it has one)."""
    from pyspark.sql import functions as F

    if ds.schema is None:
        return df
    schema = ds.schema
    if isinstance(schema, str):
        try:
            schema = graph.session.createDataFrame([], schema).schema
        except Exception:  # noqa: BLE001 - DDL with generated columns etc.: the table enforces it
            return df
    have = {c.lower(): c for c in df.columns}
    missing = [f.name for f in schema.fields if f.name.lower() not in have]
    if missing:
        raise PipelineDefinitionError(f"{ds.location}: {ds.label} declares column(s) {missing} that its query "
                                      f"does not produce (query columns: {df.columns})")
    return df.select(*[F.col(f"`{have[f.name.lower()]}`").cast(f.dataType).alias(f.name) for f in schema.fields])


def create_table(graph: UpdateGraph, ds: Dataset, schema: Any) -> None:
    """Create the empty Delta table of a streaming dataset if it does not exist yet."""
    session = graph.session
    target = graph.qualified(ds)
    if session.catalog.tableExists(target):
        return
    if isinstance(ds.schema, str):
        try:
            session.createDataFrame([], ds.schema)
        except Exception:  # noqa: BLE001 - let SQL handle generated columns and constraints
            props = ", ".join(f"{_sql_string(k)} = {_sql_string(v)}" for k, v in table_properties(ds).items())
            graph.raw_sql(f"CREATE TABLE {target} ({ds.schema}) USING DELTA TBLPROPERTIES ({props})")
            return
    empty = session.createDataFrame([], schema)
    if ds.cluster_by:
        _create_clustered(graph, ds, target, empty, replace=False)
        return
    _with_layout(empty.writeTo(target), ds).create()


def _with_layout(writer: Any, ds: Dataset) -> Any:
    from pyspark.sql import functions as F

    writer = writer.using("delta")
    if ds.format and ds.format.lower() != "delta":
        raise PipelineDefinitionError(f"{ds.location}: {ds.label} has format {ds.format!r}; lakeloom stores "
                                      "pipeline datasets as Delta tables")
    if ds.partition_cols:
        writer = writer.partitionedBy(*[F.col(f"`{c}`") for c in ds.partition_cols])
    for k, v in table_properties(ds).items():
        writer = writer.tableProperty(k, v)
    if ds.comment:
        writer = writer.tableProperty("comment", ds.comment)
    return writer


def table_properties(ds: Dataset) -> dict[str, str]:
    """The dataset's table properties, with the change data feed on unless it says otherwise
    (materialized views read it to refresh incrementally)."""
    props = {k: str(v) for k, v in ds.table_properties.items()}
    props.setdefault(CDF_PROPERTY, "true")
    return props


def _sql_string(value: Any) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _create_clustered(graph: UpdateGraph, ds: Dataset, target: str, df: DataFrame, *, replace: bool) -> None:
    """``CREATE [OR REPLACE] TABLE ... CLUSTER BY ... AS SELECT`` (one Delta commit).

    Delta 4.4 rejects ``clusterBy`` on ``DataFrameWriterV2`` and ``DataFrameWriter`` ("Partitioning
    by expressions is not supported") and clustering through TBLPROPERTIES; only SQL ``CLUSTER BY``
    creates a liquid-clustered table, so ``cluster_by`` datasets are written through SQL."""
    from lakeloom.catalog.names import quote_part

    if ds.format and ds.format.lower() != "delta":
        _with_layout(df.writeTo(target), ds)  # raises the format error
    if ds.partition_cols:
        raise PipelineDefinitionError(f"{ds.location}: {ds.label} sets both partition_cols and cluster_by; "
                                      "a Delta table is either partitioned or clustered")
    view = graph.view_name("__ll_clustered")
    df.createOrReplaceTempView(view)
    props = table_properties(ds)
    clauses = [f"CLUSTER BY ({', '.join(quote_part(c) for c in ds.cluster_by or [])})"]
    if ds.comment:
        clauses.append(f"COMMENT {_sql_string(ds.comment)}")
    if props:
        clauses.append("TBLPROPERTIES (" + ", ".join(f"{_sql_string(k)} = {_sql_string(v)}"
                                                     for k, v in props.items()) + ")")
    try:
        graph.raw_sql(f"CREATE {'OR REPLACE ' if replace else ''}TABLE {target} USING DELTA "
                      f"{' '.join(clauses)} AS SELECT * FROM {quote_part(view)}")
    finally:
        graph.session.catalog.dropTempView(view)


def write_materialized_view(graph: UpdateGraph, ds: Dataset, flow: FlowDef, df: DataFrame) -> FlowResult:
    """Recompute ``ds`` and replace the table in one Delta commit."""
    from pyspark.sql import functions as F

    expectations = ds.expectations + flow.expectations
    target = graph.qualified(ds)
    with _measured(conform(graph, ds, df), expectations, ds, flow) as (out, metrics):
        location = _same_layout(graph, ds, target, out)
        if location is not None:
            out.writeTo(target).overwrite(F.lit(True))
        elif ds.cluster_by:
            _create_clustered(graph, ds, target, out, replace=True)
        else:
            _with_layout(out.writeTo(target), ds).createOrReplace()
    rows = metrics.rows - metrics.dropped if metrics is not None else last_commit_rows(graph, target, location)
    return FlowResult(flow.name, ds.name, rows_written=rows, mode="COMPLETE", metrics=metrics,
                      expectations=expectations)


def _same_layout(graph: UpdateGraph, ds: Dataset, target: str, df: DataFrame) -> str | None:
    """The table's location if it already has ``df``'s columns, the partitioning and the
    properties of ``ds``: then an overwrite keeps the table's identity and history; otherwise
    (None) it is replaced (``CREATE OR REPLACE``). Either way the new content is one Delta commit."""
    if not graph.session.catalog.tableExists(target):
        return None
    detail = graph.raw_sql(f"DESCRIBE DETAIL {target}").first()
    current = graph.raw_sql(f"SELECT * FROM {target}").schema
    same_columns = [(f.name, f.dataType) for f in current.fields] == [(f.name, f.dataType) for f in df.schema.fields]
    props = dict(detail.properties or {})
    # An overwrite drops a table's clustering columns (Delta 4.4): clustered views are replaced.
    same = (not ds.cluster_by and same_columns and list(detail.partitionColumns or []) == list(ds.partition_cols or [])
            and (detail.description or None) == (ds.comment or None)
            and all(props.get(k) == str(v) for k, v in ds.table_properties.items()))
    return str(detail.location) if same else None


@contextmanager
def _measured(df: DataFrame, expectations: list[Expectation], ds: Dataset,
              flow: FlowDef) -> Iterator[tuple[DataFrame, ExpectationMetrics | None]]:
    """Batch expectations: ``df`` cached, counted once, checked, then written from the cache."""
    if not expectations:
        yield df, None
        return
    cached = df.persist()
    try:
        yield measure_expectations(cached, expectations, dataset=ds.name, flow=flow.name)
    finally:
        cached.unpersist()


def last_commit_rows(graph: UpdateGraph, target: str, location: str | None = None) -> int:
    """``numOutputRows`` of the table's latest Delta commit (no data is read)."""
    return int(last_commit_metrics(graph, target, location).get("numOutputRows") or 0)


def last_commit_metrics(graph: UpdateGraph, target: str, location: str | None = None) -> dict[str, Any]:
    """``operationMetrics`` of the table's latest Delta commit; with the table's ``location``
    (or the one the catalog store records) straight from its last commit file, without a
    Spark query."""
    if location is None:
        found = catalog_location(graph, target)
        location = str(found) if found is not None and (found / "_delta_log").is_dir() else None
    if location is not None:
        import json

        log_dir = Path(location.removeprefix("file:")) / "_delta_log"
        commits = sorted(log_dir.glob("*.json")) if log_dir.is_dir() else []
        for line in commits[-1].read_text().splitlines() if commits else []:
            info = json.loads(line).get("commitInfo")
            if info is not None:
                return dict(info.get("operationMetrics") or {})
    row = graph.raw_sql(f"DESCRIBE HISTORY {target} LIMIT 1").select("operationMetrics").first()
    return dict((row[0] if row else None) or {})


def append_stream(graph: UpdateGraph, ds: Dataset, flow: FlowDef, df: DataFrame,
                  cancel: threading.Event | None) -> FlowResult:
    """Run a streaming flow into its table until the available input is processed."""
    expectations = ds.expectations + flow.expectations
    df = conform(graph, ds, df)
    # Rows are counted on the flow's own output (after its filters, joins, aggregations), not
    # on what its sources read, so ``num_output_rows`` is what the table received.
    out = apply_expectations(df, expectations, dataset=ds.name, flow=flow.name, observe_rows=True)
    create_table(graph, ds, out.schema)
    writer = (out.writeStream.format("delta").outputMode("append")
              .option("checkpointLocation", str(checkpoint_dir(graph.storage, ds, flow)))
              .option("mergeSchema", "true").trigger(availableNow=True))
    query = writer.toTable(graph.qualified(ds))
    _, metrics = await_query(query, cancel, obs_name(flow.name), expectations)
    return FlowResult(flow.name, ds.name, rows_written=metrics.rows - metrics.dropped, mode="APPEND",
                      metrics=metrics if expectations else None, expectations=expectations)


def append_once(graph: UpdateGraph, ds: Dataset, flow: FlowDef, df: DataFrame) -> FlowResult:
    """A batch ``once`` flow: appended on the first update (and after a full refresh) only."""
    marker = checkpoint_dir(graph.storage, ds, flow) / "_once_done"
    if marker.exists():
        return FlowResult(flow.name, ds.name, status="SKIPPED", mode="ONCE")
    expectations = ds.expectations + flow.expectations
    target = graph.qualified(ds)
    with _measured(conform(graph, ds, df), expectations, ds, flow) as (out, metrics):
        create_table(graph, ds, out.schema)
        out.writeTo(target).option("mergeSchema", "true").append()
    rows = metrics.rows - metrics.dropped if metrics is not None else last_commit_rows(graph, target)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("done\n")
    return FlowResult(flow.name, ds.name, rows_written=rows, mode="ONCE", metrics=metrics, expectations=expectations)


def write_sink(graph: UpdateGraph, ds: Dataset, flow: FlowDef, df: DataFrame,
               cancel: threading.Event | None) -> FlowResult:
    """A streaming flow into an external sink (any streaming format, with the sink's options), or
    into a ``foreach_batch_sink``'s function."""
    if not df.isStreaming:
        raise PipelineDefinitionError(f"{flow.location}: {flow.label} into sink {ds.name!r} must be a streaming query")
    if ds.sink_function is not None:
        query = (df.writeStream.foreachBatch(ds.sink_function)
                 .option("checkpointLocation", str(checkpoint_dir(graph.storage, ds, flow)))
                 .trigger(availableNow=True).start())
        rows, _ = await_query(query, cancel, obs_name(flow.name), [])
        return FlowResult(flow.name, ds.name, rows_written=rows, mode="FOREACH_BATCH")
    options = dict(ds.sink_options)
    out = apply_expectations(df, [], dataset=ds.name, flow=flow.name, observe_rows=True)
    writer = (out.writeStream.format(ds.format or "delta").options(**options)
              .option("checkpointLocation", str(checkpoint_dir(graph.storage, ds, flow))).trigger(availableNow=True))
    table = options.pop("tableName", None)
    query = writer.toTable(table) if table else writer.start()
    _, metrics = await_query(query, cancel, obs_name(flow.name), [])
    return FlowResult(flow.name, ds.name, rows_written=metrics.rows, mode="APPEND")


def await_query(query: StreamingQuery, cancel: threading.Event | None, observed: str,
                expectations: list[Expectation]) -> tuple[int, ExpectationMetrics]:
    """Wait for an ``availableNow`` query (stopping it on cancel); rows read and observed metrics."""
    try:
        while not query.awaitTermination(0.1):
            if cancel is not None and cancel.is_set():
                query.stop()
                raise FlowError("cancelled")
    except FlowError:
        raise
    except Exception as e:
        raise FlowError(violation_message(e) or _first_line(e)) from e
    rows = 0
    metrics = ExpectationMetrics()
    for progress in query.recentProgress:
        rows += int(progress["numInputRows"] or 0)
        row = (progress.get("observedMetrics") or {}).get(observed) if hasattr(progress, "get") else None
        if row is not None:
            metrics.add(metrics_from_row(row.asDict() if hasattr(row, "asDict") else dict(row), expectations))
    return rows, metrics


def run_cdc(graph: UpdateGraph, ds: Dataset, flow: FlowDef, cancel: threading.Event | None) -> FlowResult:
    """An Auto CDC flow: the source's change events merged into ``ds`` batch by batch."""
    from lakeloom.pipelines.cdc import CdcPlan, apply_scd1, apply_scd2, create_target

    assert flow.cdc is not None
    spec = flow.cdc
    source = graph.session.readStream.table(spec.source)
    plan = CdcPlan.build(spec, source.columns, f"{flow.location}: Auto CDC {flow.label} into {ds.name!r}")
    target = graph.qualified(ds)
    create_target(graph.session, target, plan.target_schema(source), table_properties(ds), ds.comment)
    state = checkpoint_dir(graph.storage, ds, flow) / "scd1_state"
    applied = [0]

    def apply(batch: DataFrame, batch_id: int) -> None:
        if spec.stored_as_scd_type == 2:
            applied[0] += apply_scd2(batch, plan, target)
        else:
            applied[0] += apply_scd1(batch, plan, target, state)

    if not source.isStreaming:
        apply(source, 0)
        return FlowResult(flow.name, ds.name, rows_written=applied[0], mode=f"SCD{spec.stored_as_scd_type}")
    query = (source.writeStream.foreachBatch(apply)
             .option("checkpointLocation", str(checkpoint_dir(graph.storage, ds, flow) / "stream"))
             .trigger(availableNow=True).start())
    await_query(query, cancel, obs_name(flow.name), [])
    return FlowResult(flow.name, ds.name, rows_written=applied[0], mode=f"SCD{spec.stored_as_scd_type}")


def _first_line(err: BaseException) -> str:
    java = getattr(err, "java_exception", None)
    text = str(java.toString() if java is not None else err).strip()
    for line in text.splitlines():
        if line.strip() and not line.startswith("JVM stacktrace"):
            return line.strip()
    return type(err).__name__


def timed(fn: Any, *args: Any) -> FlowResult:
    start = time.perf_counter()
    result: FlowResult = fn(*args)
    result.seconds = round(time.perf_counter() - start, 3)
    return result
