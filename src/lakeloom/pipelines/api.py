"""The Databricks pipeline API that Apache Spark's ``pyspark.pipelines`` lacks.

While lakeloom loads pipeline code these are also reachable as ``dp.expect`` ... and
``dp.create_auto_cdc_flow`` (with SCD type 2 and history tracking); code that wants an
explicit import uses ``from lakeloom.pipelines import expect, ...``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

from lakeloom.pipelines.expectations import Expectation, checked, from_mapping
from lakeloom.pipelines.model import (
    CdcSpec,
    FlowDef,
    PipelineDefinitionError,
    SnapshotCdcSpec,
    column_expr,
    column_names,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakeloom.pipelines.registry import PipelineRegistry

F = TypeVar("F")


def active_registry(what: str) -> PipelineRegistry:
    """The registry collecting the pipeline being loaded; a clear error outside a pipeline."""
    from pyspark.pipelines.graph_element_registry import _graph_element_registry_context_var

    from lakeloom.pipelines.registry import PipelineRegistry

    reg = _graph_element_registry_context_var.get()
    if not isinstance(reg, PipelineRegistry):
        raise RuntimeError(f"{what} can only be used in pipeline source code loaded by lakeloom "
                           "(lakeloom pipeline run, or a pipeline_task)")
    return reg


def _attach(expectations: list[Expectation], what: str) -> Callable[[F], F]:
    def decorate(target: F) -> F:
        reg = active_registry(what)
        reg.attach_expectations(target, expectations, what)
        return target

    return decorate


def expect(description: str, constraint: str) -> Callable[[F], F]:
    """Keep rows that violate ``constraint`` and count them."""
    return _attach([checked(Expectation(description, constraint, "warn"), where="expect")], "expect")


def expect_or_drop(description: str, constraint: str) -> Callable[[F], F]:
    """Drop rows that violate ``constraint`` and count them."""
    return _attach([checked(Expectation(description, constraint, "drop"), where="expect_or_drop")], "expect_or_drop")


def expect_or_fail(description: str, constraint: str) -> Callable[[F], F]:
    """Fail the update of the dataset (its target unchanged) when a row violates ``constraint``."""
    return _attach([checked(Expectation(description, constraint, "fail"), where="expect_or_fail")], "expect_or_fail")


def expect_all(expectations: dict[str, str]) -> Callable[[F], F]:
    """``expect`` for every ``{name: constraint}``."""
    return _attach(from_mapping(expectations, "warn", where="expect_all"), "expect_all")


def expect_all_or_drop(expectations: dict[str, str]) -> Callable[[F], F]:
    """``expect_or_drop`` for every ``{name: constraint}``."""
    return _attach(from_mapping(expectations, "drop", where="expect_all_or_drop"), "expect_all_or_drop")


def expect_all_or_fail(expectations: dict[str, str]) -> Callable[[F], F]:
    """``expect_or_fail`` for every ``{name: constraint}``."""
    return _attach(from_mapping(expectations, "fail", where="expect_all_or_fail"), "expect_all_or_fail")


def dataset_expectations(expect_all: dict[str, str] | None, expect_all_or_drop: dict[str, str] | None,
                         expect_all_or_fail: dict[str, str] | None, where: str) -> list[Expectation]:
    """The ``expect_all*`` keyword arguments of ``create_streaming_table`` / ``@dlt.table``."""
    out: list[Expectation] = []
    for mapping, action in ((expect_all, "warn"), (expect_all_or_drop, "drop"), (expect_all_or_fail, "fail")):
        if mapping:
            out.extend(from_mapping(mapping, action, where=where))  # type: ignore[arg-type]
    return out


def create_auto_cdc_flow(target: str, source: str, keys: list[Any], sequence_by: Any,
                         ignore_null_updates: bool = False, apply_as_deletes: Any = None,
                         apply_as_truncates: Any = None, column_list: list[Any] | None = None,
                         except_column_list: list[Any] | None = None,
                         stored_as_scd_type: int | str | None = None,
                         track_history_column_list: list[Any] | None = None,
                         track_history_except_column_list: list[Any] | None = None,
                         name: str | None = None, once: bool = False, spark_conf: dict[str, str] | None = None) -> None:
    """Apply the change events of ``source`` to the streaming table ``target`` (Auto CDC).

    Rows are matched on ``keys``; ``sequence_by`` orders events (late events are placed by
    sequence); ``apply_as_deletes`` marks deletes; SCD type 1 keeps the latest row per key,
    type 2 keeps every version with ``__START_AT``/``__END_AT``.
    """
    reg = active_registry("create_auto_cdc_flow")
    if apply_as_truncates is not None:
        raise PipelineDefinitionError("create_auto_cdc_flow: apply_as_truncates is not supported by lakeloom")
    if once:
        raise PipelineDefinitionError("create_auto_cdc_flow: once=True is not supported by lakeloom")
    scd = int(str(stored_as_scd_type or 1))
    if scd not in (1, 2):
        raise PipelineDefinitionError(f"create_auto_cdc_flow into {target!r}: stored_as_scd_type must be 1 or 2")
    if column_list is not None and except_column_list is not None:
        raise PipelineDefinitionError(f"create_auto_cdc_flow into {target!r}: give column_list or "
                                      "except_column_list, not both")
    if track_history_column_list is not None and track_history_except_column_list is not None:
        raise PipelineDefinitionError(f"create_auto_cdc_flow into {target!r}: give track_history_column_list "
                                      "or track_history_except_column_list, not both")
    if (track_history_column_list or track_history_except_column_list) and scd != 2:
        raise PipelineDefinitionError(f"create_auto_cdc_flow into {target!r}: track_history_* needs "
                                      "stored_as_scd_type=2")
    key_names = column_names(keys, "keys") or []
    if not key_names:
        raise PipelineDefinitionError(f"create_auto_cdc_flow into {target!r}: at least one key is required")
    cdc = CdcSpec(
        source=source, keys=key_names, sequence_by=column_expr(sequence_by),
        apply_as_deletes=column_expr(apply_as_deletes) if apply_as_deletes is not None else None,
        column_list=column_names(column_list, "column_list"),
        except_column_list=column_names(except_column_list, "except_column_list"),
        stored_as_scd_type=scd,
        track_history_column_list=column_names(track_history_column_list, "track_history_column_list"),
        track_history_except_column_list=column_names(track_history_except_column_list,
                                                      "track_history_except_column_list"),
        ignore_null_updates=bool(ignore_null_updates),
    )
    reg.add_flow(FlowDef(name=name or target, target=target, cdc=cdc, spark_conf=dict(spark_conf or {}),
                         location=reg.caller_location()))


apply_changes = create_auto_cdc_flow


def create_auto_cdc_from_snapshot_flow(target: str, source: Any = None, keys: list[Any] | None = None,
                                       stored_as_scd_type: int | str | None = 1,
                                       track_history_column_list: list[Any] | None = None,
                                       track_history_except_column_list: list[Any] | None = None,
                                       once: bool = False, *, snapshot_and_version: Any = None) -> None:
    """Apply successive full snapshots of ``source`` to the streaming table ``target`` (Auto CDC
    from snapshot): each snapshot is compared with the target on ``keys``; new keys are inserted,
    rows whose values changed are updated, and keys the snapshot no longer has are deleted (SCD
    type 1) or closed with ``__END_AT`` (type 2, where ``__START_AT``/``__END_AT`` hold snapshot
    versions).

    ``source`` is a table or view name, snapshotted anew on every update (the update's start time
    is the version), or a function ``f(latest_version) -> (DataFrame, version) | None`` that the
    update calls with the last processed version (``None`` at first) until it returns ``None``,
    processing each snapshot in turn. Versions must grow. ``once=True`` processes snapshots only
    in the first update (and after a full refresh). ``snapshot_and_version`` is the legacy
    ``apply_changes_from_snapshot`` name of ``source``.
    """
    reg = active_registry("create_auto_cdc_from_snapshot_flow")
    where = f"create_auto_cdc_from_snapshot_flow into {target!r}"
    if source is not None and snapshot_and_version is not None:
        raise PipelineDefinitionError(f"{where}: give source or snapshot_and_version, not both")
    source = snapshot_and_version if source is None else source
    if source is None:
        raise PipelineDefinitionError(f"{where}: source is required (a table name or a function returning "
                                      "(DataFrame, version) or None)")
    if not (isinstance(source, str) or callable(source) or _is_snapshot_pair(source)):
        raise PipelineDefinitionError(f"{where}: source must be a table or view name or a function returning "
                                      f"(DataFrame, version) or None, got {type(source).__name__}")
    scd = int(str(stored_as_scd_type or 1))
    if scd not in (1, 2):
        raise PipelineDefinitionError(f"{where}: stored_as_scd_type must be 1 or 2")
    if track_history_column_list is not None and track_history_except_column_list is not None:
        raise PipelineDefinitionError(f"{where}: give track_history_column_list or "
                                      "track_history_except_column_list, not both")
    if (track_history_column_list or track_history_except_column_list) and scd != 2:
        raise PipelineDefinitionError(f"{where}: track_history_* needs stored_as_scd_type=2")
    key_names = column_names(keys, "keys") or []
    if not key_names:
        raise PipelineDefinitionError(f"{where}: at least one key is required")
    spec = SnapshotCdcSpec(
        source=source, keys=key_names, stored_as_scd_type=scd,
        track_history_column_list=column_names(track_history_column_list, "track_history_column_list"),
        track_history_except_column_list=column_names(track_history_except_column_list,
                                                      "track_history_except_column_list"),
        once=bool(once))
    reg.add_flow(FlowDef(name=target, target=target, snapshot=spec, location=reg.caller_location()))


apply_changes_from_snapshot = create_auto_cdc_from_snapshot_flow


def foreach_batch_sink(name: str | None = None) -> Callable[[F], F]:
    """``@foreach_batch_sink(name=...)``: a sink whose function ``f(df, batch_id)`` receives every
    micro-batch of the append flows that target it (each flow keeps its own checkpoint)."""
    from lakeloom.pipelines.model import Dataset

    def outer(func: F) -> F:
        reg = active_registry("foreach_batch_sink")
        if not callable(func):
            raise PipelineDefinitionError(f"{reg.caller_location()}: @foreach_batch_sink must decorate a function "
                                          "(df, batch_id)")
        reg.add_dataset(Dataset(name or func.__name__, "sink", reg.caller_location(), sink_function=func))
        return func

    return outer


def _is_snapshot_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and hasattr(value[0], "schema")


def read(name: str) -> DataFrame:
    """Legacy ``dlt.read``: a batch read of a pipeline dataset (or any table)."""
    from pyspark.sql import SparkSession

    return SparkSession.active().read.table(name)


def read_stream(name: str) -> DataFrame:
    """Legacy ``dlt.read_stream``: a streaming read of a pipeline dataset (or any table)."""
    from pyspark.sql import SparkSession

    return SparkSession.active().readStream.table(name)


EXTRAS: dict[str, Callable[..., Any]] = {
    "expect": expect, "expect_or_drop": expect_or_drop, "expect_or_fail": expect_or_fail,
    "expect_all": expect_all, "expect_all_or_drop": expect_all_or_drop, "expect_all_or_fail": expect_all_or_fail,
    "create_auto_cdc_flow": create_auto_cdc_flow,
    "create_auto_cdc_from_snapshot_flow": create_auto_cdc_from_snapshot_flow,
    "foreach_batch_sink": foreach_batch_sink,
}
"""Names set on ``pyspark.pipelines`` while lakeloom loads pipeline code."""

__all__ = ["apply_changes", "apply_changes_from_snapshot", "create_auto_cdc_flow", "create_auto_cdc_from_snapshot_flow",
           "expect", "expect_all", "expect_all_or_drop", "expect_all_or_fail", "expect_or_drop", "expect_or_fail",
           "foreach_batch_sink", "read", "read_stream"]
