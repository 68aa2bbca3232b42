"""Collecting a pipeline's datasets and flows while its source files load.

``PipelineRegistry`` implements pyspark's ``GraphElementRegistry`` (files are run by
:func:`lakeloom.pipelines.loader.load_graph`). pyspark's decorators return ``None`` and never
call the query function; the update runner calls it later.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from pyspark.pipelines.graph_element_registry import GraphElementRegistry
from pyspark.pipelines.output import MaterializedView, Sink, StreamingTable, TemporaryView

from lakeloom.pipelines.expectations import Expectation
from lakeloom.pipelines.model import (
    CdcSpec,
    Dataset,
    FlowDef,
    PipelineDefinitionError,
    column_expr,
    column_names,
    location_of,
)
_EXPECT_ATTR = "__lakeloom_expectations__"


class PipelineRegistry(GraphElementRegistry):
    """Datasets and flows of one pipeline, in declaration order."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.datasets: dict[str, Dataset] = {}
        self.flows: dict[str, FlowDef] = {}
        self.sql_conf: dict[str, str] = {}
        self._by_func: dict[int, FlowDef] = {}
        self._last_flow: FlowDef | None = None

    # --- pyspark's GraphElementRegistry -------------------------------------------
    def register_output(self, output: Any) -> None:
        """A pyspark ``Output`` (materialized view, streaming table, temporary view, sink)."""
        loc = location_of(output.source_code_location)
        if isinstance(output, MaterializedView):
            kind = "materialized_view"
        elif isinstance(output, StreamingTable):
            kind = "streaming_table"
        elif isinstance(output, TemporaryView):
            kind = "view"
        elif isinstance(output, Sink):
            self.add_dataset(Dataset(output.name, "sink", loc, format=output.format,
                                     sink_options=dict(output.options or {})))
            return
        else:
            raise PipelineDefinitionError(f"{loc}: unsupported output type {type(output).__name__}")
        ds = Dataset(output.name, kind, loc, comment=output.comment)  # type: ignore[arg-type]
        if kind != "view":
            ds.table_properties = dict(output.table_properties or {})
            ds.partition_cols = list(output.partition_cols) if output.partition_cols else None
            ds.cluster_by = list(output.cluster_by) if output.cluster_by else None
            ds.schema, ds.format = output.schema, output.format
        self.add_dataset(ds)

    def register_flow(self, flow: Any) -> None:
        """A pyspark ``Flow``; expectations decorated onto its function come along."""
        func = flow.func
        self.add_flow(FlowDef(flow.name, flow.target, func, location_of(flow.source_code_location),
                              dict(flow.spark_conf or {}), list(getattr(func, _EXPECT_ATTR, []))))

    def register_auto_cdc_flow(self, flow: Any) -> None:
        """pyspark's own ``AutoCdcFlow`` (SCD type 1, Connect columns turned into SQL text)."""
        cdc = CdcSpec(flow.source, column_names(flow.keys, "keys") or [], column_expr(flow.sequence_by),
                      column_expr(flow.apply_as_deletes) if flow.apply_as_deletes is not None else None,
                      column_names(flow.column_list, "column_list"),
                      column_names(flow.except_column_list, "except_column_list"),
                      int(str(flow.stored_as_scd_type or 1)))
        self.add_flow(FlowDef(flow.name or flow.target, flow.target, cdc=cdc,
                              location=location_of(flow.source_code_location)))

    def register_sql(self, sql_text: str, file_path: Path) -> None:
        """Every statement of a SQL definitions file."""
        from lakeloom.pipelines.sql import register_sql_text

        register_sql_text(self, sql_text, str(file_path))

    # --- lakeloom additions ---------------------------------------------------------
    def add_dataset(self, ds: Dataset) -> None:
        self._add_once(self.datasets, ds, "dataset")

    def add_flow(self, flow: FlowDef) -> None:
        self._add_once(self.flows, flow, "flow")
        if flow.func is not None:
            self._by_func[id(flow.func)] = flow
        self._last_flow = flow

    def attach_expectations(self, target: Any, expectations: list[Expectation], what: str) -> None:
        """Expectation decorators: on a function (below ``@table``) or on the flow just defined
        (above it, where pyspark's decorator left ``None``)."""
        if target is None:
            if self._last_flow is None:
                raise PipelineDefinitionError(f"{self.caller_location()}: @{what} must decorate a dataset function")
            self._last_flow.expectations.extend(expectations)
            return
        if not callable(target):
            raise PipelineDefinitionError(f"{self.caller_location()}: @{what} must decorate a function")
        flow = self._by_func.get(id(target))
        if flow is not None:
            flow.expectations.extend(expectations)
            return
        setattr(target, _EXPECT_ATTR, list(getattr(target, _EXPECT_ATTR, [])) + expectations)

    def _add_once(self, table: dict[str, Any], item: Dataset | FlowDef, what: str) -> None:
        key = item.name.lower()
        if key in table:
            raise PipelineDefinitionError(f"{item.location or self.label}: {what} {item.name!r} is defined twice "
                                          f"(first at {table[key].location or '?'})")
        table[key] = item

    def caller_location(self) -> str:
        """``file:line`` of the first frame outside lakeloom and pyspark (the user's code)."""
        for frame in inspect.stack()[1:]:
            f = frame.filename
            if "/lakeloom/pipelines/" not in f and "/pyspark/" not in f and "contextlib" not in f:
                return f"{f}:{frame.lineno}"
        return self.label

    def flows_into(self, dataset: Dataset) -> list[FlowDef]:
        return [f for f in self.flows.values() if f.target.lower() == dataset.name.lower()]

    def validate(self) -> None:
        """Graph-level checks that need no Spark: flows target known datasets of the right kind."""
        problems = []
        for f in self.flows.values():
            ds = self.datasets.get(f.target.lower())
            if ds is None:
                problems.append(f"{f.location or self.label}: {f.label} targets {f.target!r}, which is not "
                                "defined (create it with create_streaming_table or a dataset decorator)")
            elif (f.cdc or f.snapshot) is not None and ds.kind not in ("streaming_table", "table"):
                problems.append(f"{f.location}: Auto CDC {f.label} needs a streaming table target; "
                                f"{ds.label} is not one")
            elif (f.cdc or f.snapshot) is not None and len(self.flows_into(ds)) > 1:
                problems.append(f"{f.location}: {ds.label} has an Auto CDC flow and other flows; "
                                "an Auto CDC target takes a single flow")
        for ds in self.datasets.values():
            if ds.kind != "sink" and ds.kind != "streaming_table" and not self.flows_into(ds):
                problems.append(f"{ds.location or self.label}: {ds.label} has no flow")
        if problems:
            raise PipelineDefinitionError("\n".join(problems))
