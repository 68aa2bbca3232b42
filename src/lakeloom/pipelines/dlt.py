"""Legacy ``import dlt`` (Databricks Delta Live Tables), as lakeloom serves it.

lakeloom puts this module in ``sys.modules["dlt"]`` only while it loads pipeline code, so a
pipeline written against the legacy module runs unmodified without a global ``dlt`` package.
``@dlt.table`` follows its query: a streaming read makes a streaming table, a batch read a
materialized view. ``@dlt.view`` is a temporary view.
"""
from __future__ import annotations

from typing import Any, Callable

from lakeloom.pipelines.api import (
    active_registry,
    apply_changes,
    apply_changes_from_snapshot,
    create_auto_cdc_flow,
    create_auto_cdc_from_snapshot_flow,
    dataset_expectations,
    expect,
    expect_all,
    expect_all_or_drop,
    expect_all_or_fail,
    expect_or_drop,
    expect_or_fail,
    foreach_batch_sink,
    read,
    read_stream,
)
from lakeloom.pipelines.model import Dataset, DatasetKind, FlowDef

QueryFunction = Callable[[], Any]


def _define(kind: DatasetKind, query_function: QueryFunction | None, what: str, *, name: str | None = None,
            comment: str | None = None, spark_conf: dict[str, str] | None = None,
            table_properties: dict[str, str] | None = None, partition_cols: list[str] | None = None,
            cluster_by: list[str] | None = None, schema: Any = None, format: str | None = None,
            expect_all: dict[str, str] | None = None, expect_all_or_drop: dict[str, str] | None = None,
            expect_all_or_fail: dict[str, str] | None = None, **_databricks_only: Any) -> Any:
    def outer(func: QueryFunction) -> QueryFunction:
        if not callable(func):
            raise TypeError(f"@dlt.{what} must decorate a function")
        reg = active_registry(f"dlt.{what}")
        ds_name = name or func.__name__
        where = reg.caller_location()
        ds = Dataset(ds_name, kind, where, comment=comment, table_properties=dict(table_properties or {}),
                     partition_cols=partition_cols, cluster_by=cluster_by, schema=schema, format=format,
                     spark_conf=dict(spark_conf or {}))
        reg.add_dataset(ds)
        flow = FlowDef(ds_name, ds_name, func, where, dict(spark_conf or {}),
                       list(getattr(func, "__lakeloom_expectations__", [])))
        flow.expectations.extend(dataset_expectations(expect_all, expect_all_or_drop, expect_all_or_fail,
                                                      f"{where}: dlt.{what}"))
        reg.add_flow(flow)
        return func

    if query_function is not None:
        return outer(query_function)
    return outer


def table(query_function: QueryFunction | None = None, **kwargs: Any) -> Any:
    """``@dlt.table``: a streaming table or materialized view, by the kind of its query.

    ``temporary=True`` / ``private=True`` tables are not published: lakeloom keeps them as
    pipeline-internal views (computed when read) instead of unpublished tables."""
    private = kwargs.pop("temporary", False) | kwargs.pop("private", False)
    return _define("view" if private else "table", query_function, "table", **kwargs)


def materialized_view(query_function: QueryFunction | None = None, **kwargs: Any) -> Any:
    """``@dlt.materialized_view``: recomputed on every update."""
    return _define("materialized_view", query_function, "materialized_view", **kwargs)


def view(query_function: QueryFunction | None = None, *, name: str | None = None, comment: str | None = None,
         spark_conf: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """``@dlt.view``: a temporary view, visible inside the pipeline only."""
    return _define("view", query_function, "view", name=name, comment=comment, spark_conf=spark_conf, **kwargs)


temporary_view = view


def append_flow(*, target: str, name: str | None = None, spark_conf: dict[str, str] | None = None,
                comment: str | None = None, once: bool = False) -> Callable[[QueryFunction], QueryFunction]:
    """``@dlt.append_flow(target=...)``: one more flow into a streaming table (``once``: a batch
    flow that runs on the first update and after a full refresh only)."""
    def outer(func: QueryFunction) -> QueryFunction:
        reg = active_registry("dlt.append_flow")
        reg.add_flow(FlowDef(name or func.__name__, target, func, reg.caller_location(), dict(spark_conf or {}),
                             list(getattr(func, "__lakeloom_expectations__", [])), once=once))
        return func

    return outer


def create_streaming_table(name: str, comment: str | None = None, spark_conf: dict[str, str] | None = None,
                           table_properties: dict[str, str] | None = None, partition_cols: list[str] | None = None,
                           cluster_by: list[str] | None = None, path: str | None = None, schema: Any = None,
                           expect_all: dict[str, str] | None = None,
                           expect_all_or_drop: dict[str, str] | None = None,
                           expect_all_or_fail: dict[str, str] | None = None, row_filter: str | None = None,
                           format: str | None = None) -> None:
    """A streaming table fed by ``append_flow`` or ``apply_changes`` flows."""
    reg = active_registry("dlt.create_streaming_table")
    where = reg.caller_location()
    reg.add_dataset(Dataset(name, "streaming_table", where, comment=comment,
                            table_properties=dict(table_properties or {}), partition_cols=partition_cols,
                            cluster_by=cluster_by, schema=schema, format=format,
                            expectations=dataset_expectations(expect_all, expect_all_or_drop, expect_all_or_fail,
                                                              f"{where}: create_streaming_table"),
                            spark_conf=dict(spark_conf or {})))


create_target_table = create_streaming_table
create_streaming_live_table = create_streaming_table


def create_sink(name: str, format: str, options: dict[str, str] | None = None) -> None:
    """An external sink (any streaming format) that append flows can target."""
    reg = active_registry("dlt.create_sink")
    reg.add_dataset(Dataset(name, "sink", reg.caller_location(), format=format, sink_options=dict(options or {})))


__all__ = ["append_flow", "apply_changes", "apply_changes_from_snapshot", "create_auto_cdc_flow",
           "create_auto_cdc_from_snapshot_flow", "create_sink", "create_streaming_table",
           "create_target_table", "expect", "expect_all", "expect_all_or_drop", "expect_all_or_fail",
           "expect_or_drop", "expect_or_fail", "foreach_batch_sink", "materialized_view", "read", "read_stream",
           "table", "temporary_view", "view"]
