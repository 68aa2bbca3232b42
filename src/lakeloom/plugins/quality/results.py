"""Per-expectation results: the task's output, its task values and the Delta results table."""
from __future__ import annotations

import datetime as dt
import json
import threading
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.names import format_name, parse_name

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.plugin_api import TaskContext

#: Keys of an expectation's arguments that name what it checks, shown as its "column".
_DOMAIN_KEYS = ("column", "column_list", "column_A", "column_B")
_NOT_ARGUMENTS = {"meta", "notes", "description", "severity", "result_format", "catch_exceptions",
                  "rendered_content", "id", "batch_id", "windows"}

RESULTS_SCHEMA = (
    "run_id BIGINT, job_id BIGINT, job_name STRING, task_key STRING, attempt INT, validated_at TIMESTAMP, "
    "dataset STRING, suite STRING, expectation STRING, `column` STRING, arguments STRING, severity STRING, "
    "success BOOLEAN, observed_value STRING, element_count BIGINT, unexpected_count BIGINT, "
    "unexpected_percent DOUBLE, failed_rows STRING, exception STRING, gx_version STRING"
)
_append_lock = threading.Lock()  # one creator of the results table at a time in this process


def expectation_result(raw: dict[str, Any], sample_failed_rows: int) -> dict[str, Any]:
    """One expectation's result as stored with the task run (from GX's JSON result)."""
    config = raw.get("expectation_config") or {}
    kwargs = dict(config.get("kwargs") or {})
    result = raw.get("result") or {}
    exception = raw.get("exception_info") or {}
    domain = next((kwargs[k] for k in _DOMAIN_KEYS if kwargs.get(k) is not None), None)
    rows = result.get("unexpected_rows")
    return {
        "expectation": config.get("type"),
        "severity": str(config.get("severity") or "critical"),
        "success": bool(raw.get("success")),
        "column": ", ".join(map(str, domain)) if isinstance(domain, list) else domain,
        "arguments": {k: v for k, v in kwargs.items() if k not in _NOT_ARGUMENTS and k not in _DOMAIN_KEYS},
        "observed_value": result.get("observed_value"),
        "element_count": result.get("element_count"),
        "unexpected_count": result.get("unexpected_count"),
        "unexpected_percent": result.get("unexpected_percent"),
        "partial_unexpected_list": result.get("partial_unexpected_list"),
        "failed_rows": list(rows)[:sample_failed_rows] if isinstance(rows, list) else [],
        "exception": exception.get("exception_message") if exception.get("raised_exception") else None,
    }


def quality_status(results: list[dict[str, Any]]) -> str:
    """``FAILED`` if a critical expectation failed, ``WARNING`` if only warning/info ones did, else ``PASSED``."""
    failed = [r for r in results if not r["success"]]
    if any(r["severity"] == "critical" for r in failed):
        return "FAILED"
    return "WARNING" if failed else "PASSED"


def quality_output(*, dataset: str, suite: str, results: list[dict[str, Any]], statistics: dict[str, Any],
                   gx_version: str, results_table: str | None, seconds: float) -> dict[str, Any]:
    """The ``quality_output`` block of the task's output (shown on the run page)."""
    failed = [r for r in results if not r["success"]]
    return {
        "dataset": dataset, "suite": suite, "status": quality_status(results),
        "success": not failed, "failed_expectations": [r["expectation"] for r in failed],
        "critical_failures": [r["expectation"] for r in failed if r["severity"] == "critical"],
        "warnings": [r["expectation"] for r in failed if r["severity"] != "critical"],
        "statistics": statistics, "results": results, "gx_version": gx_version,
        "results_table": results_table, "duration_seconds": round(seconds, 3),
    }


def set_task_values(ctx: TaskContext, output: dict[str, Any]) -> None:
    """``success`` (any failed expectation makes it false), ``failed_expectations`` and ``status``."""
    ctx.task_values.set("success", output["success"])
    ctx.task_values.set("failed_expectations", output["failed_expectations"])
    ctx.task_values.set("status", output["status"])


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def append_results(spark: SparkSession, table: str, ctx: TaskContext, output: dict[str, Any]) -> int:
    """Append one row per expectation to the Delta table ``table`` (created when missing)."""
    from pyspark.sql.types import _parse_datatype_string

    schema = _parse_datatype_string(RESULTS_SCHEMA)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [(
        ctx.run_id, ctx.job_id, ctx.job_name, ctx.task_key, ctx.attempt_number, now,
        output["dataset"], output["suite"], r["expectation"], r["column"], _json(r["arguments"]), r["severity"],
        r["success"], _json(r["observed_value"]),
        r["element_count"], r["unexpected_count"],
        None if r["unexpected_percent"] is None else float(r["unexpected_percent"]),
        _json(r["failed_rows"]) if r["failed_rows"] else None, r["exception"], output["gx_version"],
    ) for r in output["results"]]
    parts = parse_name(table)
    name = format_name(parts)
    with _append_lock:
        if len(parts) == 3:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {format_name(parts[:2])}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} ({RESULTS_SCHEMA}) USING delta "
                  "COMMENT 'lakeloom quality_task results, one row per expectation per validation'")
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").saveAsTable(name)
    return len(rows)
