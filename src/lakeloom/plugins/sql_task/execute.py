"""Run SQL in the run's shared session. Every SQL statement lakeloom's notebook and
SQL tasks execute goes through ``run_sql`` (the single place where governance hooks
such as lineage and grants attach)."""
from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
import threading
from typing import TYPE_CHECKING, Any, Mapping

from lakeloom.plugins.sql_task.splitter import Statement, parameter_markers, split_statements

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakeloom.plugin_api import TaskContext

MAX_ROWS = 1000
MAX_OUTPUT_BYTES = 48 * 1024
#: Spark >= 4.1 binds parameters in the parser, and a parser extension that does not
#: forward them (Delta 4.4.0's) loses them; the legacy mode binds during analysis.
_BINDING_CONF = "spark.sql.legacy.parameterSubstitution.constantsOnly"
_conf_lock = threading.Lock()
_conf_checked: set[int] = set()


class SqlExecutionError(RuntimeError):
    """A statement failed; the message names the source, statement number and line."""


class MissingSqlParameter(ValueError):
    """A ``:name`` marker has no value."""


def _ensure_parameter_binding(spark: Any) -> None:
    key = id(spark._jsparkSession) if hasattr(spark, "_jsparkSession") else id(spark)
    if key in _conf_checked:
        return
    with _conf_lock:
        if spark.conf.get(_BINDING_CONF, "false") != "true":
            spark.conf.set(_BINDING_CONF, "true")
        _conf_checked.add(key)


def run_sql(ctx: TaskContext, statement: str, args: Mapping[str, Any] | None = None) -> DataFrame:
    """Execute one statement in ``ctx``'s session with ``args`` bound to its ``:name``
    markers by Spark (values are never spliced into the text). Returns the DataFrame.

    A standalone ``CREATE ... STREAMING TABLE | MATERIALIZED VIEW`` runs as a one-dataset
    pipeline update, as on a Databricks SQL warehouse (:mod:`.datasets`)."""
    from lakeloom.plugins.sql_task.datasets import pipeline_dataset, run_pipeline_dataset

    dataset = pipeline_dataset(statement)
    if dataset is not None:
        return run_pipeline_dataset(ctx, statement, dataset, args)
    spark = ctx.spark
    if args:
        _ensure_parameter_binding(spark)
        return spark.sql(statement, args=dict(args))
    return spark.sql(statement)


def bind_arguments(stmt: Statement, parameters: Mapping[str, str], source: str) -> dict[str, str]:
    """The values of the markers ``stmt`` uses; MissingSqlParameter names the first absent one."""
    used = parameter_markers(stmt.text)
    missing = [n for n in used if n not in parameters]
    if missing:
        known = ", ".join(sorted(parameters)) or "none"
        raise MissingSqlParameter(f"{source}, line {stmt.line}: parameter :{missing[0]} has no value "
                                  f"(parameters given: {known})")
    return {n: parameters[n] for n in used}


def run_script(ctx: TaskContext, sql_text: str, parameters: Mapping[str, str], source: str) -> DataFrame | None:
    """Run every statement of ``sql_text`` in order; return the last one's DataFrame."""
    last = None
    statements = split_statements(sql_text)
    for number, stmt in enumerate(statements, start=1):
        ctx.check_cancelled()
        args = bind_arguments(stmt, parameters, source)
        try:
            last = run_sql(ctx, stmt.text, args)
        except Exception as e:
            raise SqlExecutionError(
                f"{source}, statement {number} of {len(statements)} (line {stmt.line}): "
                f"{stmt.first_line[:120]}\n{type(e).__name__}: {e}") from e
    return last


def to_jsonable(value: Any) -> Any:
    """A JSON-friendly copy of a Spark value (dates as ISO strings, decimals as exact strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact, and one JSON type per column
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "asDict"):
        return {k: to_jsonable(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return str(value)


def sql_output(df: DataFrame | None) -> dict[str, Any]:
    """The ``sql_output`` of a task whose last statement returned ``df``: schema, the
    first rows (at most 1,000 and 48 KiB of JSON), ``first_row``, ``row_count``."""
    if df is None:
        return {"schema": [], "rows": [], "first_row": None, "truncated": False, "row_count": 0, "alert_state": None}
    schema = [{"name": f.name, "type": f.dataType.simpleString()} for f in df.schema.fields]
    fetched = df.limit(MAX_ROWS + 1).collect()
    truncated = len(fetched) > MAX_ROWS
    rows: list[dict[str, Any]] = []
    size = 2
    for r in fetched[:MAX_ROWS]:
        row = {k: to_jsonable(v) for k, v in r.asDict().items()}
        size += len(json.dumps(row, default=str)) + 1
        if size > MAX_OUTPUT_BYTES:
            truncated = True
            break
        rows.append(row)
    row_count = df.count() if len(fetched) > MAX_ROWS else len(fetched)
    return {"schema": schema, "rows": rows, "first_row": rows[0] if rows else None, "truncated": truncated,
            "row_count": row_count, "alert_state": None}
