"""Collecting a pipeline's datasets and flows from its source files.

``PipelineRegistry`` implements pyspark's ``GraphElementRegistry``: user files run under
``graph_element_registration_context`` exactly as Apache Spark's ``spark-pipelines`` loads
them, but on classic Spark. pyspark's decorators return ``None`` and never call the query
function; the update runner calls it later. While files load, ``pyspark.pipelines`` also
carries the Databricks additions (``dp.expect*``, SCD2-capable ``dp.create_auto_cdc_flow``)
and ``import dlt`` resolves to :mod:`lakeloom.pipelines.dlt`.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from pyspark.pipelines.graph_element_registry import GraphElementRegistry, graph_element_registration_context
from pyspark.pipelines.output import MaterializedView, Sink, StreamingTable, TemporaryView

from lakeloom.pipelines.expectations import Expectation
from lakeloom.pipelines.model import CdcSpec, Dataset, FlowDef, PipelineDefinitionError, location_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.pipelines.spec import LoadedPipeline

_LOAD_LOCK = threading.RLock()
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
        from lakeloom.pipelines.api import column_expr, column_names

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
        key = ds.name.lower()
        if key in self.datasets:
            first = self.datasets[key]
            raise PipelineDefinitionError(f"{ds.location or self.label}: dataset {ds.name!r} is defined twice "
                                          f"(first at {first.location or '?'})")
        self.datasets[key] = ds

    def add_flow(self, flow: FlowDef) -> None:
        key = flow.name.lower()
        if key in self.flows:
            first = self.flows[key]
            raise PipelineDefinitionError(f"{flow.location or self.label}: flow {flow.name!r} is defined twice "
                                          f"(first at {first.location or '?'})")
        self.flows[key] = flow
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
            elif f.cdc is not None and ds.kind not in ("streaming_table", "table"):
                problems.append(f"{f.location}: Auto CDC {f.label} needs a streaming table target; "
                                f"{ds.label} is not one")
            elif f.cdc is not None and len(self.flows_into(ds)) > 1:
                problems.append(f"{f.location}: {ds.label} has an Auto CDC flow and other flows; "
                                "an Auto CDC target takes a single flow")
        for ds in self.datasets.values():
            if ds.kind != "sink" and ds.kind != "streaming_table" and not self.flows_into(ds):
                problems.append(f"{ds.location or self.label}: {ds.label} has no flow")
        if problems:
            raise PipelineDefinitionError("\n".join(problems))


@contextlib.contextmanager
def _extras_installed() -> Iterator[None]:
    """``dp.expect*`` and the extended ``dp.create_auto_cdc_flow``, and ``import dlt``."""
    import pyspark.pipelines as dp

    from lakeloom.pipelines import dlt
    from lakeloom.pipelines.api import EXTRAS

    saved = {k: getattr(dp, k) for k in EXTRAS if hasattr(dp, k)}
    saved_dlt = sys.modules.get("dlt")
    for k, v in EXTRAS.items():
        setattr(dp, k, v)
    sys.modules["dlt"] = dlt
    try:
        yield
    finally:
        for k in EXTRAS:
            if k in saved:
                setattr(dp, k, saved[k])
            else:
                delattr(dp, k)
        if saved_dlt is None:
            sys.modules.pop("dlt", None)
        else:
            sys.modules["dlt"] = saved_dlt


def load_graph(loaded: LoadedPipeline, session: SparkSession) -> PipelineRegistry:
    """Run every library file of ``loaded`` under a fresh registry and return it.

    ``session`` is the update's session: files see it as the global ``spark`` and as the
    active session. Raises PipelineDefinitionError naming the file on any problem.
    """
    files = loaded.library_files()
    reg = PipelineRegistry(loaded.label)
    with _LOAD_LOCK, graph_element_registration_context(reg), _extras_installed():
        for path in files:
            if path.suffix == ".sql":
                reg.register_sql(path.read_text(), path)
            else:
                _exec_python(loaded.spec.name, path, session)
    reg.validate()
    return reg


def _exec_python(pipeline: str, path: Path, session: SparkSession) -> None:
    code = _notebook_code(path) if path.suffix == ".ipynb" else path.read_text()
    mod_name = f"_lakeloom_pipeline_{pipeline}_{path.stem}".replace("-", "_").replace(".", "_")
    module_spec = importlib.util.spec_from_loader(mod_name, loader=None, origin=str(path))
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    module.__file__ = str(path)
    module.__dict__["spark"] = session
    sys.modules[mod_name] = module
    sys.path.insert(0, str(path.parent))
    try:
        exec(compile(code, str(path), "exec"), module.__dict__)  # noqa: S102 - running the user's pipeline file
    except PipelineDefinitionError:
        raise
    except Exception as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        raise PipelineDefinitionError(f"{where}: loading the pipeline source failed: "
                                      f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                                      ) from e
    finally:
        sys.path.remove(str(path.parent))
        sys.modules.pop(mod_name, None)


def _notebook_code(path: Path) -> str:
    nb = json.loads(path.read_text())
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", []))
        if src.lstrip().startswith("%"):
            continue  # magics (%pip, %sql, %md) have no meaning in a pipeline source file
        cells.append(src)
    return "\n\n".join(cells)
