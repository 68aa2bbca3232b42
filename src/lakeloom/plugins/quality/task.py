"""Running one ``quality_task`` attempt: gather expectations, validate, record, decide."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.names import format_name, parse_name
from lakeloom.plugins.quality.checks import check_expectations
from lakeloom.plugins.quality.registry import load_registry
from lakeloom.plugins.quality.results import (
    append_results, expectation_result, quality_output, set_task_values)
from lakeloom.plugins.quality.settings import SUITE_PROPERTY, QualityTaskSettings
from lakeloom.plugins.quality.suite import (
    ExpectationSpec, SuiteFileError, load_suite_file, parse_entries, resolve_path)
from lakeloom.plugins.quality.validate import field_name
from lakeloom.plugin_api import TaskFailed, TaskOutput

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakeloom.plugin_api import TaskContext


def table_suite_property(spark: SparkSession, table: str) -> str | None:
    """The table's ``lakeloom.quality.suite`` property, or None."""
    for row in spark.sql(f"SHOW TBLPROPERTIES {format_name(parse_name(table))}").collect():
        if row["key"] == SUITE_PROPERTY:
            return str(row["value"])
    return None


def _suite_specs(path: Path, problems: list[str]) -> tuple[list[ExpectationSpec], list[str], str]:
    try:
        suite = load_suite_file(path)
    except SuiteFileError as e:
        raise TaskFailed(str(e)) from None
    problems += [f"{suite.where(p.loc)}: {p.message}" for p in suite.problems]
    problems += [f"{suite.where(p.loc)}: {p.message}" for p in check_expectations(suite.specs, load_registry())]
    return suite.specs, [suite.where(s.loc) for s in suite.specs], suite.name


def gather_expectations(ctx: TaskContext, settings: QualityTaskSettings
                        ) -> tuple[list[ExpectationSpec], list[str], str]:
    """Specs, a location label for each (for messages) and the suite's name.

    Checked against GX's registry again here: a table's own suite is first seen now.
    """
    problems: list[str] = []
    specs: list[ExpectationSpec] = []
    labels: list[str] = []
    suite_name = ctx.task_key
    suite_path = resolve_path(settings.suite, ctx.base_dir) if settings.suite else None
    if suite_path is None and not settings.expectations and settings.table:
        prop = table_suite_property(ctx.spark, settings.table)
        if prop is None:
            raise TaskFailed(f"table {settings.table} has no {SUITE_PROPERTY!r} property and the task gives no "
                             "suite or expectations: set one with ALTER TABLE ... SET TBLPROPERTIES "
                             f"('{SUITE_PROPERTY}' = 'path/to/suite.json')")
        suite_path = resolve_path(prop, ctx.workspace.root)
    if suite_path is not None:
        specs, labels, suite_name = _suite_specs(suite_path, problems)
    inline, shape = parse_entries(settings.expectations, ("expectations",))
    problems += [f"quality_task.{field_name(p.loc)}: {p.message}" for p in shape]
    problems += [f"quality_task.{field_name(p.loc)}: {p.message}" for p in check_expectations(inline, load_registry())]
    specs += inline
    labels += [f"quality_task.{field_name(s.loc)}" for s in inline]
    if problems:
        raise TaskFailed("invalid expectations:\n" + "\n".join(problems))
    if not specs:
        raise TaskFailed("no expectations to validate")
    return specs, labels, suite_name


def load_dataset(spark: SparkSession, settings: QualityTaskSettings) -> DataFrame:
    return spark.table(format_name(parse_name(settings.table))) if settings.table else spark.sql(settings.query or "")


def run_quality_task(ctx: TaskContext, settings: QualityTaskSettings) -> TaskOutput:
    """Validate the table or query; FAILED when a critical expectation fails, else SUCCESS
    (``status: WARNING`` in the output and task values when only warning/info ones failed)."""
    from lakeloom.plugins.quality.runner import ExpectationRejected, build_expectations, validate_dataframe

    started = time.perf_counter()
    specs, labels, suite_name = gather_expectations(ctx, settings)
    try:
        expectations = build_expectations(specs, labels)
    except ExpectationRejected as e:
        raise TaskFailed(f"Great Expectations rejected expectations:\n{e}") from None
    spark = ctx.spark
    gx_run = validate_dataframe(spark, load_dataset(spark, settings), expectations, suite_name=suite_name,
                                asset_name=settings.dataset_name, persist=settings.persist,
                                result_format_name=settings.result_format,
                                sample_failed_rows=settings.sample_failed_rows)
    table = settings.results_table_name(ctx.workspace)
    out = quality_output(dataset=settings.dataset_name, suite=suite_name,
                         results=[expectation_result(r, settings.sample_failed_rows) for r in gx_run.results],
                         statistics=gx_run.statistics, gx_version=gx_run.gx_version, results_table=table,
                         seconds=time.perf_counter() - started)
    set_task_values(ctx, out)
    if table:
        append_results(spark, table, ctx, out)
    ctx.logger.info("quality %s on %s: %s (%s of %s expectations failed)", suite_name, settings.dataset_name,
                    out["status"], len(out["failed_expectations"]), len(out["results"]))
    output = TaskOutput(output={"quality_output": out})
    if out["status"] == "FAILED":
        critical = [r for r in out["results"] if not r["success"] and r["severity"] == "critical"]
        raise TaskFailed(f"{len(critical)} critical expectation(s) failed on {settings.dataset_name}: "
                         + "; ".join(_describe(r) for r in critical), output)
    return output


def _describe(result: dict[str, Any]) -> str:
    what = result["expectation"] + (f"({result['column']})" if result["column"] else "")
    if result["unexpected_count"]:
        return f"{what}: {result['unexpected_count']} unexpected ({result['unexpected_percent']:.2f}%)"
    if result["exception"]:
        return f"{what}: {result['exception']}"
    return f"{what}: observed {result['observed_value']!r}"
