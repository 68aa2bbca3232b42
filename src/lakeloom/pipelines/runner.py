"""A pipeline update: load the graph, build every selected dataset in dependency order, log.

The update runs in a child session of the run's SparkSession (``newSession``: same
SparkContext and catalogs, own SQL conf, temporary views and current catalog/schema), so the
pipeline's ``configuration``, its target ``catalog.schema`` and its views stay private to it.
"""
from __future__ import annotations

import contextlib

import logging
import shutil
import threading
import time
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.volumes import check_volume_path
from lakeloom.pipelines.concurrency import (
    MAX_FLOWS_CONF,
    POOL_PROPERTY,
    FlowSlots,
    max_concurrent_flows,
    needs_exclusive,
    run_all,
)
from lakeloom.pipelines.eventlog import EventLog, event_log_path
from lakeloom.pipelines.flows import (
    FlowError,
    FlowResult,
    append_once,
    append_stream,
    checkpoint_dir,
    conform,
    flow_conf,
    query_dataframe,
    run_cdc,
    timed,
    write_materialized_view,
    write_sink,
)
from lakeloom.pipelines.graph import UpdateGraph, UpstreamFailed, activated, active_session
from lakeloom.pipelines.model import Dataset, PipelineDefinitionError
from lakeloom.pipelines.retries import retry_policy, retryable, wait
from lakeloom.pipelines.results import (
    COMPACT_FIELDS,
    DatasetResult,
    PipelineUpdateFailed,
    UpdateOptions,
    UpdateResult,
    iter_results,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.config import Workspace
    from lakeloom.pipelines.registry import PipelineRegistry
    from lakeloom.pipelines.spec import LoadedPipeline

__all__ = ["DatasetResult", "PipelineUpdateFailed", "UpdateOptions", "UpdateResult", "iter_results", "run_update"]

log = logging.getLogger("lakeloom.pipelines")


class _Update:
    def __init__(self, loaded: LoadedPipeline, workspace: Workspace, options: UpdateOptions,
                 cancel: threading.Event | None) -> None:
        self.loaded, self.spec, self.options, self.cancel = loaded, loaded.spec, options, cancel
        if loaded.spec.storage and not options.dry_run:  # checkpoints and the event log go there
            check_volume_path(workspace, loaded.spec.storage, write=True)
        self.storage = loaded.storage_dir(workspace)
        self.workspace = workspace
        self.events = EventLog(self.storage, self.spec.name)
        self.result = UpdateResult(self.spec.name, self.events.update_id)
        self.selected: set[str] | None = None
        self.full: set[str] = set()
        self.graph: UpdateGraph | None = None
        self.registry: PipelineRegistry | None = None

    # --- building one dataset ------------------------------------------------------
    def build(self, ds: Dataset) -> None:
        assert self.graph is not None and self.registry is not None
        if self.cancel is not None and self.cancel.is_set():
            raise FlowError("cancelled")
        res = self.result.datasets.setdefault(ds.name.lower(), DatasetResult(ds.name, ds.kind))
        flows = self.registry.flows_into(ds)
        if self.options.dry_run:
            try:
                self._plan(ds, res, flows)
            except PipelineDefinitionError:
                raise
            except BaseException as e:
                upstream = _upstream(e)
                res.status = "SKIPPED" if upstream else "FAILED"
                res.error = (f"skipped: upstream dataset {upstream!r} failed" if upstream
                             else _message(e, ds, flows[0].name if flows else ds.name))
                raise FlowError(res.error) from e
            return
        if ds.kind != "view" and self.selected is not None and ds.name.lower() not in self.selected:
            res.status = "SKIPPED"
            return
        if ds.name.lower() in self.full:
            self._reset(ds)
        for flow in flows:
            result = self._run_with_retries(ds, flow, res)
            if result.planning is not None:
                technique = result.planning["technique"]
                self.events.emit("planning_information", f"Flow '{flow.name}' has been planned to be executed as "
                                 f"{technique}" + (f" ({'; '.join(result.planning['reasons'])})."
                                                   if result.planning["reasons"] else "."),
                                 dataset=ds.name, flow=flow.name,
                                 details={"planning_information": result.planning["planning_information"]})
            res.flows.append(result)
            res.rows_written += result.rows_written
            if res.kind == "table":
                res.kind = "materialized_view" if result.mode == "COMPLETE" else "streaming_table"
            details: dict[str, Any] = {"flow_progress": {"status": result.status, "mode": result.mode,
                                                         "metrics": {"num_output_rows": result.rows_written},
                                                         "seconds": result.seconds}}
            if result.metrics is not None and result.expectations:
                details["flow_progress"]["data_quality"] = result.metrics.as_event(result.expectations, ds.name)
            self.events.emit("flow_progress", f"Flow '{flow.name}' has {result.status}.", dataset=ds.name,
                             flow=flow.name, status=result.status, rows_written=result.rows_written, details=details)
        res.status = "COMPLETED"
        log.info("pipeline %s: %s %s (%d rows)", self.spec.name, ds.kind, ds.name, res.rows_written)

    def _run_with_retries(self, ds: Dataset, flow: Any, res: DatasetResult) -> FlowResult:
        """Run one flow; after a retryable failure run it again while its retry policy allows
        (:mod:`lakeloom.pipelines.retries`). A final failure is recorded on ``res`` and raised."""
        assert self.graph is not None
        graph = self.graph
        policy = retry_policy({**ds.spark_conf, **flow.spark_conf}, self.spec.configuration,
                              lambda key: graph.session.conf.get(key, None))
        retry = 0
        while True:
            self.events.emit("flow_progress", f"Flow '{flow.name}' is RUNNING.", dataset=ds.name, flow=flow.name,
                             status="RUNNING", details={"flow_progress": {"status": "RUNNING"}})
            try:
                upstream_before = graph.upstream_seconds()
                with flow_conf(graph, ds, flow):
                    result = timed(self._run_flow, ds, flow)
                result.seconds = round(result.seconds - (graph.upstream_seconds() - upstream_before), 3)
                return result
            except PipelineDefinitionError:
                raise
            except BaseException as e:
                upstream = _upstream(e)
                message = f"skipped: upstream dataset {upstream!r} failed" if upstream else _message(e, ds, flow.name)
                if upstream is None and retry < policy.retries and retryable(e, self.cancel):
                    retry += 1
                    pause = policy.wait_before(retry)
                    self.events.emit("flow_progress", f"Flow '{flow.name}' has FAILED; retry {retry} of "
                                     f"{policy.retries} in {pause:g}s.", level="WARN", dataset=ds.name, flow=flow.name,
                                     status="FAILED", error=message,
                                     details={"flow_progress": {"status": "FAILED", "retry": {
                                         "attempt": retry, "max_attempts": policy.retries, "wait_seconds": pause}}})
                    log.warning("pipeline %s: %s failed, retry %d of %d in %gs: %s", self.spec.name, flow.name,
                                retry, policy.retries, pause, message)
                    if wait(pause, self.cancel):
                        continue
                status = "SKIPPED" if upstream else "FAILED"
                res.status, res.error = status, message
                res.flows.append(FlowResult(flow.name, ds.name, status=status, error=message))
                self.events.emit("flow_progress", f"Flow '{flow.name}' has {status}.", level="ERROR",
                                 dataset=ds.name, flow=flow.name, status=status, error=message,
                                 details={"flow_progress": {"status": status, "retries": retry}})
                log.error("pipeline %s: %s %s: %s", self.spec.name, ds.name, status.lower(), message)
                raise FlowError(message) from e

    def _ensure(self, ds: Dataset) -> None:
        """Build ``ds`` (and what it reads); a failure is already recorded on its flow."""
        assert self.graph is not None
        try:
            self.graph.ensure(ds)
        except UpstreamFailed:
            pass

    def _run_flow(self, ds: Dataset, flow: Any) -> FlowResult:
        assert self.graph is not None
        graph = self.graph
        if ds.kind == "view":
            df = query_dataframe(graph, ds, flow)
            if ds.expectations or flow.expectations:
                from lakeloom.pipelines.expectations import apply_expectations

                df = apply_expectations(df, ds.expectations + flow.expectations, dataset=ds.name, flow=flow.name)
            graph.dataframes[ds.name.lower()] = df
            if "." not in ds.name:
                df.createOrReplaceTempView(ds.name)
            return FlowResult(flow.name, ds.name, mode="VIEW")
        if flow.cdc is not None:
            return run_cdc(graph, ds, flow, self.cancel)
        if flow.snapshot is not None:
            from lakeloom.pipelines.cdc_snapshot import run_snapshot_cdc

            return run_snapshot_cdc(graph, ds, flow, self.cancel)
        with graph.tracking_reads() as reads:
            df = query_dataframe(graph, ds, flow)
        if ds.kind == "sink":
            return write_sink(graph, ds, flow, df, self.cancel)
        if flow.once:
            return append_once(graph, ds, flow, df)
        if df.isStreaming and ds.kind != "materialized_view":
            return append_stream(graph, ds, flow, df, self.cancel)
        if df.isStreaming:
            raise PipelineDefinitionError(f"{flow.location or ds.location}: {ds.label} is a materialized view, "
                                          "but its query reads a stream; use spark.read / batch sources")
        if ds.kind == "materialized_view" or len(self.registry.flows_into(ds)) == 1:  # type: ignore[union-attr]
            from lakeloom.pipelines.mv_refresh import refresh_materialized_view

            return refresh_materialized_view(graph, ds, flow, df, reads,
                                             lambda: conform(graph, ds, query_dataframe(graph, ds, flow)),
                                             full=ds.name.lower() in self.full, write_full=write_materialized_view)
        raise PipelineDefinitionError(f"{flow.location}: {flow.label} into {ds.label} returns a batch DataFrame; "
                                      "flows into a streaming table need a streaming read (or once=True)")

    def _plan(self, ds: Dataset, res: DatasetResult, flows: list[Any]) -> None:
        from lakeloom.pipelines.cdc import CdcPlan
        from lakeloom.pipelines.expectations import apply_expectations
        from lakeloom.pipelines.flows import conform

        assert self.graph is not None
        graph = self.graph
        frames = []
        for flow in flows:
            with flow_conf(graph, ds, flow):
                if flow.cdc is not None:
                    source = graph.session.readStream.table(flow.cdc.source)
                    plan = CdcPlan.build(flow.cdc, source.columns, f"{flow.location}: Auto CDC {flow.label}")
                    frames.append(graph.session.createDataFrame([], plan.target_schema(source)))
                    continue
                if flow.snapshot is not None:
                    from lakeloom.pipelines.cdc_snapshot import planned_schema

                    schema = planned_schema(graph, ds, flow)
                    if schema is not None:
                        frames.append(graph.session.createDataFrame([], schema))
                    continue
                df = conform(graph, ds, query_dataframe(graph, ds, flow))
                exps = ds.expectations + flow.expectations
                frames.append(apply_expectations(df, exps, dataset=ds.name, flow=flow.name) if exps else df)
        if not frames:
            res.status = "PLANNED"
            return
        df = frames[0]
        for other in frames[1:]:
            df = df.unionByName(other, allowMissingColumns=True)
        graph.dataframes[ds.name.lower()] = df
        if "." not in ds.name:
            df.createOrReplaceTempView(ds.name)
        if ds.kind == "table":
            res.kind = "streaming_table" if df.isStreaming else "materialized_view"
        res.schema, res.status = df.schema.simpleString(), "PLANNED"

    def _reset(self, ds: Dataset) -> None:
        """Full refresh: empty the table and forget every checkpoint and CDC state of ``ds``."""
        assert self.graph is not None and self.registry is not None
        for flow in self.registry.flows_into(ds):
            shutil.rmtree(checkpoint_dir(self.storage, ds, flow), ignore_errors=True)
            shutil.rmtree(self.storage / "autoloader" / flow.name, ignore_errors=True)
        target = self.graph.qualified(ds)
        if ds.stored and ds.kind != "materialized_view" and self.graph.session.catalog.tableExists(target):
            self.graph.raw_sql(f"DELETE FROM {target}")

    # --- the whole update --------------------------------------------------------------
    def select(self, registry: PipelineRegistry) -> None:
        names = {n.lower() for n in self.options.refresh_selection + self.options.full_refresh_selection}
        unknown = sorted(n for n in names if n not in registry.datasets)
        if unknown:
            known = ", ".join(sorted(d.name for d in registry.datasets.values()))
            raise PipelineDefinitionError(f"{self.loaded.label}: no dataset(s) {unknown} in pipeline "
                                          f"{self.spec.name!r} (datasets: {known})")
        self.selected = names or None
        if self.options.full_refresh:
            self.full = {k for k, d in registry.datasets.items() if d.stored}
        else:
            self.full = {n.lower() for n in self.options.full_refresh_selection}

    def run(self, session: SparkSession) -> UpdateResult:
        from lakeloom.pipelines.loader import load_graph

        self.events.emit("create_update", f"Update {self.result.update_id} started.",
                         details={"create_update": {"full_refresh": self.options.full_refresh,
                                                    "refresh_selection": self.options.refresh_selection,
                                                    "full_refresh_selection": self.options.full_refresh_selection,
                                                    "validate_only": self.options.dry_run}})
        registry = self.registry = load_graph(self.loaded, session)
        for k, v in registry.sql_conf.items():
            session.conf.set(k, v)
        self.select(registry)
        max_flows = 1 if self.options.dry_run else max_concurrent_flows(
            self.spec.configuration, session.conf.get(MAX_FLOWS_CONF, None))
        self.graph = UpdateGraph(registry, session, self.spec.catalog, self.spec.schema_name,
                                 "plan" if self.options.dry_run else "run", self.build, self.storage, self.workspace,
                                 slots=FlowSlots(max_flows),
                                 exclusive=lambda ds: needs_exclusive(ds, registry.flows_into(ds)))
        if max_flows > 1:
            pool = session.sparkContext.getLocalProperty(POOL_PROPERTY) or f"pipeline-{self.spec.name}"
            self.graph.pool_prefix = f"{pool}/"
        with activated(self.graph):
            if max_flows == 1:
                for ds in registry.datasets.values():
                    self._ensure(ds)
            else:
                errors = run_all(list(registry.datasets.values()), self._ensure, max_flows=max_flows,
                                 session=session, stop=threading.Event())
                if errors:
                    raise errors[0]
        for key, res in self.result.datasets.items():
            res.inputs = list(self.graph.edges.get(key, []))
        for flow in registry.flows.values():
            self.events.emit("flow_definition", f"Flow '{flow.name}' is defined as writing to '{flow.target}'.",
                             dataset=flow.target, flow=flow.name,
                             details={"flow_definition": {"output_dataset": flow.target,
                                                          "input_datasets": self.graph.edges.get(flow.target.lower(), []),
                                                          "source": flow.location,
                                                          "kind": _flow_kind(flow)}})
        self.result.order = [self.result.datasets[k].name for k in self.graph.order if k in self.result.datasets]
        return self.result


def _upstream(e: BaseException) -> str | None:
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, UpstreamFailed):
            return seen.dataset
        seen = seen.__cause__ or seen.__context__
    return None


def _message(e: BaseException, ds: Dataset, flow: str) -> str:
    from lakeloom.pipelines.expectations import violation_message
    from lakeloom.pipelines.flows import _first_line
    from lakeloom.runtime.worker_errors import python_worker_error

    text = violation_message(e) or (str(e) if isinstance(e, FlowError) else f"{type(e).__name__}: {_first_line(e)}")
    worker = None if isinstance(e, FlowError) else python_worker_error(e)
    if worker is not None:  # a UDF failed: its Python traceback, not "thrown from the Python worker"
        text = f"{worker.summary} (in a Spark Python worker)\n{worker.traceback}\n{text}"
    return f"dataset {ds.name!r}, flow {flow!r}: {text}"


def _pipeline_environment(loaded: LoadedPipeline, workspace: Workspace,
                          cancel: threading.Event | None) -> contextlib.AbstractContextManager[object]:
    """The pipeline's ``environment.dependencies`` and its notebooks' ``%pip install`` lines,
    importable by its source and UDFs."""
    from lakeloom.runtime.environments import DependencyLine, dependencies_scope

    from lakeloom.pipelines.notebook_pip import pip_install_dependencies

    deps = loaded.spec.environment.dependencies if loaded.spec.environment else []
    name = loaded.key or loaded.spec.name
    lines = [DependencyLine(d, f"pipeline {name!r} environment.dependencies[{i}]", loaded.base_dir)
             for i, d in enumerate(deps)]
    for path in loaded.library_files():  # a notebook's %pip install is for the whole pipeline
        lines += pip_install_dependencies(path)
    return dependencies_scope(lines, workspace.state_dir, label=f"pipeline {name!r} environment",
                              cancelled=cancel.is_set if cancel is not None else (lambda: False))


def run_update(spark: SparkSession, loaded: LoadedPipeline, workspace: Workspace,
               options: UpdateOptions | None = None, *, cancel: threading.Event | None = None) -> UpdateResult:
    """Run (or with ``options.dry_run`` plan) one update of ``loaded``. Raises PipelineUpdateFailed."""
    options = options or UpdateOptions()
    update = _Update(loaded, workspace, options, cancel)
    start = time.perf_counter()
    session = spark.newSession()
    result = update.result
    try:
        with active_session(session, spark), _pipeline_environment(loaded, workspace, cancel):
            _prepare_session(session, loaded, dry_run=options.dry_run)
            update.run(session)
        if cancel is not None and cancel.is_set():
            raise FlowError("the update was cancelled")
        failed = [d for d in result.datasets.values() if d.status in ("FAILED", "SKIPPED", "PENDING") and d.error]
        result.status = "FAILED" if failed else "COMPLETED"
        if failed:
            result.error = "; ".join(d.error for d in failed if d.status == "FAILED") or failed[0].error
    except BaseException as e:
        result.status = "CANCELED" if cancel is not None and cancel.is_set() else "FAILED"
        result.error = str(e) if isinstance(e, (PipelineDefinitionError, FlowError)) else f"{type(e).__name__}: {e}"
        if not isinstance(e, Exception):
            raise
    finally:
        result.seconds = round(time.perf_counter() - start, 3)
        update.events.emit("update_progress", f"Update {result.update_id} is {result.status}.",
                           level="ERROR" if result.status == "FAILED" else "INFO", status=result.status,
                           error=result.error, details={"update_progress": {"state": result.status,
                                                                            "seconds": result.seconds}})
        result.events = [{"timestamp": e["timestamp"].isoformat(), **{k: e[k] for k in COMPACT_FIELDS}}
                         for e in update.events.events]
        if not options.dry_run:
            result.event_log = str(event_log_path(update.storage))
            try:
                update.events.flush(spark)
            except Exception as e:  # noqa: BLE001 - never hide the update's own outcome
                log.error("pipeline %s: could not write the event log: %s", loaded.spec.name, e)
            _warm_written(spark, update)
    if result.status != "COMPLETED":
        raise PipelineUpdateFailed(f"pipeline {loaded.spec.name!r} update {result.update_id} {result.status}: "
                                   f"{result.error}", result)
    return result


def _warm_written(spark: SparkSession, update: _Update) -> None:
    """On a driver that outlives the command, build the new snapshots' state of the tables
    this update wrote, in the background (see :mod:`lakeloom.runtime.delta_warmup`)."""
    from lakeloom.runtime import delta_warmup

    graph, registry = update.graph, update.registry
    if not delta_warmup.enabled() or graph is None or registry is None:
        return
    from lakeloom.pipelines.mv_state import catalog_location

    locations = []
    try:
        for key, res in update.result.datasets.items():
            ds = registry.datasets.get(key)
            if ds is not None and ds.stored and res.status == "COMPLETED":
                found = catalog_location(graph, graph.qualified(ds))
                if found is not None:
                    locations.append(str(found))
    except Exception as e:  # noqa: BLE001 - an optimization must never fail the update
        log.debug("pipeline %s: not warming its tables: %s", update.spec.name, e)
    delta_warmup.warm_later(spark, locations)


def _prepare_session(session: SparkSession, loaded: LoadedPipeline, *, dry_run: bool) -> None:
    from lakeloom.catalog.names import quote_part

    spec = loaded.spec
    for k, v in spec.configuration.items():
        session.conf.set(k, v)
    catalog, schema = spec.catalog.lower(), spec.schema_name.lower()
    session.catalog.setCurrentCatalog(catalog)
    if not dry_run:
        session.sql(f"CREATE SCHEMA IF NOT EXISTS {quote_part(catalog)}.{quote_part(schema)}")
    if dry_run and not session.catalog.databaseExists(f"{catalog}.{schema}"):
        return
    session.catalog.setCurrentDatabase(schema)


def _flow_kind(flow: Any) -> str:
    """The flow's kind in ``flow_definition`` events."""
    if flow.cdc is not None:
        return "AUTO_CDC"
    if flow.snapshot is not None:
        return "AUTO_CDC_FROM_SNAPSHOT"
    return "SQL" if flow.sql else "PYTHON"
