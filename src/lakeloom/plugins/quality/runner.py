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
    fmt: dict[str, Any] = {"result_format": name, "partial_unexpected_count": sample_failed_rows}
    if sample_failed_rows and name != "BOOLEAN_ONLY":
        fmt["include_unexpected_rows"] = True
    return fmt


def _validate(context: Any, batch: Any, name: str, expectations: list[Any], fmt: dict[str, Any],
              df: DataFrame) -> Any:
    gx = _import_gx()
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    return definition.run(batch_parameters={"dataframe": df}, result_format=fmt)


def _fresh(expectation: Any) -> Any:
    """A copy GX can add to a second suite (an expectation belongs to one suite by its id)."""
    return type(expectation)(**expectation.dict(exclude={"id", "rendered_content"}))


def validate_dataframe(spark: SparkSession, df: DataFrame, expectations: list[Any], *, suite_name: str,
                       asset_name: str, result_format_name: str = "BASIC", sample_failed_rows: int = 20,
                       persist: bool = True, extra_format: dict[str, Any] | None = None,
                       samples_in_second_pass: bool | None = None) -> GxRun:
    """Validate ``df`` against ``expectations`` in an ephemeral GX context on ``spark``.

    With BASIC (the default) the suite runs first without unexpected values or rows, which
    GX fetches with one Spark job each per column expectation, passing ones included; then
    only the failed expectations run again for their failing-row samples. Other formats run
    once, asking for the samples up front.
    """
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_spark(name="lakeloom", persist=persist)
    # The run's session, always: GX would otherwise look one up itself (and may reconfigure it).
    source._spark = spark
    batch = source.add_dataframe_asset(name=asset_name).add_batch_definition_whole_dataframe("whole")
    two_pass = result_format_name == "BASIC" if samples_in_second_pass is None else samples_in_second_pass
    fmt = {**result_format(result_format_name, 0 if two_pass else sample_failed_rows), **(extra_format or {})}
    try:
        result = _validate(context, batch, suite_name, expectations, fmt, df)
        results = [r.to_json_dict() for r in result.results]
        by_id = {e.id: i for i, e in enumerate(expectations)}
        failed = [i for i, r in enumerate(results)
                  if not r["success"] and (r.get("result") or {}).get("unexpected_count")]
        if two_pass and sample_failed_rows and failed:
            # Results are matched by expectation id (GX sets one when a suite is added).
            fresh = {i: _fresh(expectations[by_id[results[i]["expectation_config"]["id"]]]) for i in failed}
            again = _validate(context, batch, f"{suite_name} (failing rows)", list(fresh.values()),
                              result_format("BASIC", sample_failed_rows), df)
            slot = {e.id: i for i, e in fresh.items()}
            for r in again.results:
                out = r.to_json_dict()
                results[slot[out["expectation_config"]["id"]]] = out
    finally:
        if persist:
            df.unpersist()  # GX caches the batch and leaves it cached in the shared session
    return GxRun(success=bool(result.success), results=results, statistics=dict(result.statistics),
                 gx_version=gx.__version__)
