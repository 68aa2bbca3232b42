"""Refreshing a materialized view incrementally from its sources' Delta Change Data Feed.

:func:`refresh_materialized_view` decides, per view and update, how to bring it up to date
and reports the decision (``planning_information``, as Databricks' event log does):

- ``NO_OP``: no source changed since the last refresh; nothing is written;
- ``APPEND_ONLY``: sources only gained rows and the query has no aggregation: the query over
  the new rows (for a join, over the new rows of one side and the other side's rows) is
  appended;
- ``ROW_BASED``: one source with updates or deletes: the view rows the old source rows gave are
  replaced by the ones the new rows give (one MERGE);
- ``GROUP_AGGREGATE``: an aggregation: the groups the changed rows touch are recomputed
  from the source and merged in, vanished groups deleted (one MERGE);
- ``INCREMENTAL_AGGREGATE``: an aggregation of ``count``/``sum``/``min``/``max`` over inserts
  only: the aggregate of the new rows is combined with the stored values: the view is
  rewritten with the combined groups (one overwrite: an aggregate is small, and an overwrite is
  one job where a MERGE is several), or, when another view of the pipeline reads this view's
  change feed or the view is clustered, merged in (one MERGE);
- ``COMPLETE_RECOMPUTE``: anything else, with the reasons (:mod:`lakeloom.pipelines.mv_strategy`);
  also when an incremental attempt fails.

The query is evaluated over changes by calling the flow again with its table reads answered
by change DataFrames (:meth:`UpdateGraph.substituted`), so Python and SQL views work alike.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lakeloom.pipelines.mv_state import (
    CDF_PROPERTY,
    SourceTable,
    ViewState,
    describe_source,
    forget_state,
    read_by_other_views,
    recorded_details,
    save_state,
)
from lakeloom.pipelines.mv_strategy import Plan, plan_refresh

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakeloom.pipelines.graph import UpdateGraph
    from lakeloom.pipelines.model import Dataset, FlowDef
    from lakeloom.pipelines.mv_plan import PlanShape

__all__ = ["Plan", "Refresher", "plan_refresh", "refresh_materialized_view"]

log = logging.getLogger("lakeloom.pipelines")
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


class Refresher:
    """Evaluates the view's query over source changes and applies them to the view's table."""

    def __init__(self, graph: UpdateGraph, ds: Dataset, flow: FlowDef, plan: Plan, shape: PlanShape,
                 query: Any) -> None:
        self.graph, self.ds, self.flow, self.plan, self.shape, self.query = graph, ds, flow, plan, shape, query
        self.target = graph.qualified(ds)
        self.session = graph.session

    def _read(self, src: SourceTable, **options: Any) -> DataFrame:
        from lakeloom.runtime.spark_patches import unpatched

        reader = self.session.read.format("delta")
        for k, v in options.items():
            reader = reader.option(k, str(v))
        return unpatched("read_table")(reader, src.table)

    def _changes(self, src: SourceTable) -> DataFrame:
        return self._read(src, readChangeFeed="true", startingVersion=self.plan.previous[src.key] + 1,
                          endingVersion=src.version)

    def _split(self, src: SourceTable) -> tuple[DataFrame, DataFrame]:
        """(rows added, rows taken away) of a source since the last refresh."""
        from pyspark.sql import functions as F

        changes = self._changes(src)
        added = changes.where(F.col("_change_type").isin("insert", "update_postimage")).drop(*_CDF_COLUMNS)
        removed = changes.where(F.col("_change_type").isin("delete", "update_preimage")).drop(*_CDF_COLUMNS)
        return added, removed

    def run_query(self, frames: dict[str, DataFrame]) -> DataFrame:
        with self.graph.substituted(frames):
            return self.query()

    def insert_terms(self) -> list[DataFrame]:
        """The query over the new rows: one term per changed source (old rows of the sources
        before it, new rows of those after it: the inner-join delta rule)."""
        terms = []
        for i, src in enumerate(self.plan.sources):
            if src.key not in self.plan.changed:
                continue
            frames = {}
            for j, other in enumerate(self.plan.sources):
                if j == i:
                    frames[other.key] = self._split(src)[0]
                elif j < i:
                    frames[other.key] = self._read(other, versionAsOf=self.plan.previous[other.key])
                else:
                    frames[other.key] = self._read(other, versionAsOf=other.version)
            terms.append(self.run_query(frames))
        return terms

    def apply(self) -> None:
        getattr(self, f"_{self.plan.technique.lower()}")()

    def _append_only(self) -> None:
        terms = self.insert_terms()
        out = terms[0]
        for t in terms[1:]:
            out = out.unionByName(t)
        out.writeTo(self.target).append()

    def _incremental_aggregate(self) -> None:
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        terms = self.insert_terms()
        delta = terms[0]
        keys = self.shape.keys
        if len(terms) > 1:
            for t in terms[1:]:
                delta = delta.unionByName(t)
            combine = {"count": F.sum, "sum": F.sum, "min": F.min, "max": F.max}
            aggs = [combine[o.func](_q(o.name)).alias(o.name) for o in self.shape.outputs if not o.is_key]  # type: ignore[index]
            delta = (delta.groupBy(*[_q(k) for k in keys]).agg(*aggs) if keys else delta.agg(*aggs))
            delta = delta.select(*[_q(c) for c in terms[0].columns])
        types = dict((f.name, f.dataType.simpleString()) for f in terms[0].schema.fields)
        if not self.ds.cluster_by and not read_by_other_views(self.graph, self.ds.name):
            self._overwrite_combined(delta, types)
            return
        sets = {}
        for o in self.shape.outputs:
            if o.is_key:
                continue
            t, s = f"t.{_q(o.name)}", f"s.{_q(o.name)}"
            merged = {"count": f"{t} + {s}", "min": f"least({t}, {s})", "max": f"greatest({t}, {s})",
                      "sum": f"CASE WHEN {s} IS NULL THEN {t} WHEN {t} IS NULL THEN {s} ELSE {t} + {s} END"}
            sets[_q(o.name)] = f"CAST({merged[o.func]} AS {types[o.name]})"  # type: ignore[index]
        on = " AND ".join(f"t.{_q(k)} <=> s.{_q(k)}" for k in keys) or "true"
        (DeltaTable.forName(self.session, self.target).alias("t").merge(delta.alias("s"), on)
         .whenMatchedUpdate(set=sets).whenNotMatchedInsertAll().execute())

    def _overwrite_combined(self, delta: DataFrame, types: dict[str, str]) -> None:
        """The stored groups and the new rows' groups combined (``count``/``sum`` added,
        ``min``/``max`` taken; null keys form one group, as ``<=>`` matches them) and written
        over the view in one commit: what the MERGE gives, in one job instead of several."""
        from pyspark.sql import functions as F

        from lakeloom.runtime.spark_patches import unpatched

        view = unpatched("read_table")(self.session.read, self.target)
        combine = {"count": F.sum, "sum": F.sum, "min": F.min, "max": F.max}
        aggs = [combine[o.func](_q(o.name)).cast(types[o.name]).alias(o.name)  # type: ignore[index]
                for o in self.shape.outputs if not o.is_key]
        both = view.unionByName(delta)
        keys = [_q(k) for k in self.shape.keys]
        out = both.groupBy(*keys).agg(*aggs) if keys else both.agg(*aggs)
        out.select(*[_q(c) for c in view.columns]).writeTo(self.target).overwrite(F.lit(True))

    def _group_aggregate(self) -> None:
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        src = self.plan.sources[0]
        added, removed = self._split(src)
        keys = self.shape.keys
        touched = self.run_query({src.key: added.unionByName(removed)}).select(*[_q(k) for k in keys]).distinct()
        current = self._read(src, versionAsOf=src.version)
        cond = [current[_q(k)].eqNullSafe(touched[_q(k)]) for k in self.shape.source_keys]
        recomputed = self.run_query({src.key: current.join(touched, cond, "left_semi")})
        present = recomputed.withColumn("__ll_present", F.lit(True)).alias("r")
        joined = touched.alias("k").join(present, [F.col(f"k.{_q(k)}").eqNullSafe(F.col(f"r.{_q(k)}")) for k in keys],
                                         "left")
        source = joined.select(*[F.col(f"k.{_q(c)}").alias(c) if c in keys else F.col(f"r.{_q(c)}").alias(c)
                                 for c in recomputed.columns],
                               F.coalesce(F.col("r.__ll_present"), F.lit(False)).alias("__ll_present"))
        on = " AND ".join(f"t.{_q(k)} <=> s.{_q(k)}" for k in keys)
        values = {_q(c): f"s.{_q(c)}" for c in recomputed.columns}
        (DeltaTable.forName(self.session, self.target).alias("t").merge(source.alias("s"), on)
         .whenMatchedUpdate(condition="s.__ll_present", set={k: v for k, v in values.items()})
         .whenMatchedDelete(condition="NOT s.__ll_present")
         .whenNotMatchedInsert(condition="s.__ll_present", values=values).execute())

    def _row_based(self) -> None:
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        src = self.plan.sources[0]
        added, removed = self._split(src)
        gone = self.run_query({src.key: removed})
        new = self.run_query({src.key: added})
        cols = gone.columns
        count = "__ll_n"
        delta = (gone.select(*[_q(c) for c in cols], F.lit(-1).alias(count))
                 .unionByName(new.select(*[_q(c) for c in cols], F.lit(1).alias(count)))
                 .groupBy(*[_q(c) for c in cols]).agg(F.sum(count).alias(count)))
        from lakeloom.runtime.spark_patches import unpatched

        view = unpatched("read_table")(self.session.read, self.target)
        same = [view[_q(c)].eqNullSafe(delta[_q(c)]) for c in cols]
        stored = view.join(delta.select(*[_q(c) for c in cols]), same, "left_semi") \
            .groupBy(*[_q(c) for c in cols]).agg(F.count(F.lit(1)).alias(count))
        both = [F.col(f"d.{_q(c)}").eqNullSafe(F.col(f"v.{_q(c)}")) for c in cols]
        final = (delta.alias("d").join(stored.alias("v"), both, "left")
                 .select(*[F.col(f"d.{_q(c)}").alias(c) for c in cols],
                         (F.coalesce(F.col(f"v.{count}"), F.lit(0)) + F.col(f"d.{count}")).alias(count)))
        final = final.persist()
        try:
            if final.where(F.col(count) < 0).limit(1).count():
                raise RuntimeError("the view holds fewer copies of a row than the source removed")
            deletes = final.select(*[_q(c) for c in cols], F.lit("D").alias("__ll_op"))
            inserts = (final.where(F.col(count) > 0)
                       .select(*[_q(c) for c in cols], F.explode(F.array_repeat(F.lit("I"), F.col(count).cast("int")))
                               .alias("__ll_op")))
            on = "s.__ll_op = 'D' AND " + " AND ".join(f"t.{_q(c)} <=> s.{_q(c)}" for c in cols)
            (DeltaTable.forName(self.session, self.target).alias("t").merge(deletes.unionByName(inserts).alias("s"), on)
             .whenMatchedDelete().whenNotMatchedInsert(condition="s.__ll_op = 'I'",
                                                       values={_q(c): f"s.{_q(c)}" for c in cols}).execute())
        finally:
            final.unpersist()


def _q(name: str) -> str:
    return f"`{name}`"


def record(graph: UpdateGraph, ds: Dataset, plan: Plan, shape: PlanShape, df: DataFrame) -> None:
    """Remember what this refresh read and wrote, for the next one."""
    replaced = plan.technique == "COMPLETE_RECOMPUTE"  # a recompute may have replaced the table
    view = describe_source(graph, ds.name.lower(), graph.qualified(ds), fresh=replaced)
    if view.location is None:
        return
    for src in plan.sources:  # a setting taken from the last refresh that this one did not confirm
        if src.table in plan.reused and src.table not in plan.verified:
            describe_source(graph, src.key, src.table, fresh=True)
    tables = [s.table for s in plan.sources] + [view.table]
    save_state(graph, ds.name, ViewState(shape.signature, df.schema.json(), view.version,
                                         {s.key: s.version for s in plan.sources},
                                         shape.to_record() if shape.kind != "unknown" else None,
                                         recorded_details(graph, tables)))


def enable_change_feed(graph: UpdateGraph, plan: Plan) -> None:
    """Turn CDF on for pipeline tables a view reads without it, so the next refreshes can be
    incremental (unless the table's properties say otherwise)."""
    for src in plan.sources:
        ds = graph.registry.datasets.get(src.key)
        if src.cdf or ds is None or CDF_PROPERTY in ds.table_properties or src.location is None:
            continue
        log.info("enabling the change data feed of %s for its materialized views", src.table)
        graph.raw_sql(f"ALTER TABLE {src.table} SET TBLPROPERTIES ('{CDF_PROPERTY}' = 'true')")
        graph.details.pop(src.table, None)


def refresh_materialized_view(graph: UpdateGraph, ds: Dataset, flow: FlowDef, df: DataFrame, reads: list[str],
                              query: Any, *, full: bool, write_full: Any) -> Any:
    """Bring the view ``ds`` up to date (incrementally when its plan allows it, else with
    ``write_full``) and return the flow's result with its ``planning`` details."""
    from lakeloom.pipelines.flows import FlowResult, last_commit_metrics

    expectations = bool(ds.expectations or flow.expectations)
    shape: PlanShape | None = None
    try:
        plan, shape, _ = plan_refresh(graph, ds, df, reads, full=full, expectations=expectations)
    except Exception as e:  # noqa: BLE001 - planning is an optimization; the view is recomputed
        log.warning("pipeline view %s: planning its refresh failed: %s", ds.name, e)
        plan = Plan(reasons=[f"planning failed: {_first_line(e)}"])
    rows = 0
    if plan.technique not in ("COMPLETE_RECOMPUTE", "NO_OP"):
        try:
            Refresher(graph, ds, flow, plan, shape, query).apply()  # type: ignore[arg-type]
            view = graph.details.get(graph.qualified(ds), (None, False))[0]
            metrics = last_commit_metrics(graph, graph.qualified(ds), str(view) if view is not None else None)
            rows = sum(int(metrics.get(k) or 0) for k in ("numTargetRowsInserted", "numTargetRowsUpdated",
                                                            "numTargetRowsDeleted")) \
                or int(metrics.get("numOutputRows") or 0)
        except Exception as e:  # noqa: BLE001 - fall back to the always-correct recompute
            log.warning("pipeline view %s: incremental refresh failed, recomputing: %s", ds.name, e)
            plan.reasons.append(f"incremental refresh failed: {_first_line(e)}")
            plan.technique = "COMPLETE_RECOMPUTE"
    if plan.technique == "COMPLETE_RECOMPUTE":
        result = write_full(graph, ds, flow, df)
    else:
        result = FlowResult(flow.name, ds.name, rows_written=rows, mode="COMPLETE")
    if shape is not None and plan.technique != "NO_OP":
        try:
            record(graph, ds, plan, shape, df)
        except Exception as e:  # noqa: BLE001 - without a state the next refresh is a full one
            log.warning("pipeline view %s: could not record its refresh: %s", ds.name, e)
            forget_state(graph, ds.name)
    try:
        enable_change_feed(graph, plan)
    except Exception as e:  # noqa: BLE001 - e.g. a concurrent property change; retried next update
        log.info("pipeline view %s: could not enable the change data feed of a source: %s", ds.name, e)
    result.planning = {"technique": plan.technique, "reasons": list(plan.reasons),
                       "planning_information": plan.as_event(flow.name)}
    return result


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__
