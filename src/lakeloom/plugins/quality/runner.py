"""Run expectations with Great Expectations on a Spark DataFrame. The only module importing GX.

GX runs in an ephemeral context (nothing written to disk), with its Spark data source bound
to the run's shared session and a DataFrame asset, progress bars and analytics off.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeloom.plugins.quality.suite import ExpectationSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class ExpectationRejected(ValueError):
    """GX refused to build some expectations (its own cross-field rules); one line per problem."""


@dataclass(frozen=True)
class GxRun:
    """What one validation produced: GX's suite result as JSON, and the GX version."""

    success: bool
    results: list[dict[str, Any]]
    statistics: dict[str, Any]
    gx_version: str


def _import_gx() -> Any:
    # GX 1.x sends no events, but older 1.x releases did; never let a local run phone home.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx


def build_expectations(specs: list[ExpectationSpec], labels: list[str]) -> list[Any]:
    """GX expectation objects; ExpectationRejected lists every one GX refuses, by ``labels``."""
    _import_gx()
    from great_expectations.expectations.registry import get_expectation_impl

    built, problems = [], []
    for spec, label in zip(specs, labels):
        try:
            built.append(get_expectation_impl(spec.type)(**spec.fields))
        except Exception as e:  # noqa: BLE001 - GX raises pydantic and its own errors alike
            errors = getattr(e, "errors", None)
            detail = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}".removeprefix("__root__: ")
                               for err in errors()) if callable(errors) else str(e)
            problems.append(f"{label}: {spec.type}: {detail}")
    if problems:
        raise ExpectationRejected("\n".join(problems))
    return built


def result_format(name: str, sample_failed_rows: int) -> dict[str, Any]:
    """GX's result format: ``name`` plus up to ``sample_failed_rows`` failing rows per expectation."""
    fmt: dict[str, Any] = {"result_format": name, "partial_unexpected_count": max(sample_failed_rows, 1)}
    if sample_failed_rows and name != "BOOLEAN_ONLY":
        fmt["include_unexpected_rows"] = True
    return fmt


def validate_dataframe(spark: SparkSession, df: DataFrame, expectations: list[Any], *, suite_name: str,
                       asset_name: str, fmt: dict[str, Any], persist: bool = True) -> GxRun:
    """Validate ``df`` against ``expectations`` in an ephemeral GX context on ``spark``."""
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_spark(name="lakeloom", persist=persist)
    # The run's session, always: GX would otherwise look one up itself (and may reconfigure it).
    source._spark = spark
    asset = source.add_dataframe_asset(name=asset_name)
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name} on {asset_name}", data=batch, suite=suite))
    try:
        result = definition.run(batch_parameters={"dataframe": df}, result_format=fmt)
    finally:
        if persist:
            df.unpersist()  # GX caches the batch and leaves it cached in the shared session
    return GxRun(success=bool(result.success), results=[r.to_json_dict() for r in result.results],
                 statistics=dict(result.statistics), gx_version=gx.__version__)
