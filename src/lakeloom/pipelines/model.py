"""The dataflow graph of one pipeline: datasets and the flows that write them (no pyspark)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from lakeloom.pipelines.expectations import Expectation

#: ``table`` is Databricks' ``@dlt.table`` / ``@dp.table`` whose kind follows its query:
#: a streaming read makes a streaming table, a batch read a materialized view.
DatasetKind = Literal["table", "streaming_table", "materialized_view", "view", "sink"]


class PipelineDefinitionError(Exception):
    """The pipeline's code or SQL defines an invalid graph; the message names the file and dataset."""


def int_setting(raw: object, where: str, *, minimum: int, expected: str) -> int:
    """A pipeline setting that must be an integer of at least ``minimum``; otherwise a
    :class:`PipelineDefinitionError` saying ``<where>: expected <expected>, got <raw>``."""
    try:
        value: int | None = int(str(raw).strip())
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise PipelineDefinitionError(f"{where}: expected {expected}, got {raw!r}")
    return value


@dataclass
class Dataset:
    """One output of the pipeline."""

    name: str
    kind: DatasetKind
    location: str = ""
    comment: str | None = None
    table_properties: dict[str, str] = field(default_factory=dict)
    partition_cols: list[str] | None = None
    cluster_by: list[str] | None = None
    schema: Any = None
    format: str | None = None
    expectations: list[Expectation] = field(default_factory=list)
    sink_options: dict[str, str] = field(default_factory=dict)
    #: A ``foreach_batch_sink``'s handler, ``f(batch_df, batch_id)``, called for every micro-batch.
    sink_function: Callable[[Any, int], Any] | None = None
    spark_conf: dict[str, str] = field(default_factory=dict)

    @property
    def stored(self) -> bool:
        """Whether it lands as a Delta table in the pipeline's schema."""
        return self.kind in ("table", "streaming_table", "materialized_view")

    @property
    def label(self) -> str:
        kind = {"table": "table", "streaming_table": "streaming table", "materialized_view": "materialized view",
                "view": "temporary view", "sink": "sink"}[self.kind]
        return f"{kind} {self.name!r}" + (f" ({self.location})" if self.location else "")


@dataclass
class CdcSpec:
    """An Auto CDC (APPLY CHANGES) flow's settings. Expressions are SQL strings or Columns."""

    source: str
    keys: list[str]
    sequence_by: Any
    apply_as_deletes: Any = None
    column_list: list[str] | None = None
    except_column_list: list[str] | None = None
    stored_as_scd_type: int = 1
    track_history_column_list: list[str] | None = None
    track_history_except_column_list: list[str] | None = None
    ignore_null_updates: bool = False


@dataclass
class SnapshotCdcSpec:
    """An Auto CDC from snapshot flow's settings (``create_auto_cdc_from_snapshot_flow``).

    ``source`` is a table or view name (a new snapshot of it each update), a function of the
    last processed snapshot version returning ``(DataFrame, version)`` or ``None``, or (the
    legacy ``snapshot_and_version=`` form) one ``(DataFrame, version)`` pair."""

    source: Any
    keys: list[str]
    stored_as_scd_type: int = 1
    track_history_column_list: list[str] | None = None
    track_history_except_column_list: list[str] | None = None
    once: bool = False


@dataclass
class FlowDef:
    """A flow: a query (Python function or SQL) appended or applied to its target."""

    name: str
    target: str
    func: Callable[[], Any] | None = None
    location: str = ""
    spark_conf: dict[str, str] = field(default_factory=dict)
    expectations: list[Expectation] = field(default_factory=list)
    cdc: CdcSpec | None = None
    snapshot: SnapshotCdcSpec | None = None
    once: bool = False
    sql: str | None = None

    @property
    def label(self) -> str:
        return f"flow {self.name!r}" + (f" ({self.location})" if self.location else "")


def location_of(loc: Any) -> str:
    """``file:line`` from a pyspark ``SourceCodeLocation`` (or anything with those fields)."""
    if loc is None:
        return ""
    name = getattr(loc, "filename", None) or ""
    line = getattr(loc, "line_number", None)
    return f"{name}:{line}" if line else str(name)


def column_names(value: Any, arg: str) -> list[str] | None:
    """Column identifiers given as strings or Columns (classic or Connect) as plain names."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"create_auto_cdc_flow: {arg} must be a list of column names, got {type(value).__name__}")
    out = []
    for v in value:
        e = column_expr(v)
        out.append((e if isinstance(e, str) else str(e.__dict__["_jc"].toString())).strip("`"))
    return out


def column_expr(value: Any) -> Any:
    """A column expression kept as SQL text (strings, Connect Columns) or as a classic Column."""
    if isinstance(value, str):
        return value
    module = type(value).__module__
    if module.startswith("pyspark.sql.connect"):  # what pyspark's own create_auto_cdc_flow builds
        return str(value.__dict__["_expr"])
    if module.startswith("pyspark.sql"):
        return value
    raise TypeError(f"expected a SQL expression string or a Column, got {type(value).__name__}")
