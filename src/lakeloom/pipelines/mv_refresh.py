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
  only: the aggregate of the new rows is combined with the stored values (one MERGE);
- ``COMPLETE_RECOMPUTE``: anything else, with the reasons (:mod:`lakeloom.pipelines.mv_plan`,
  :mod:`lakeloom.pipelines.mv_state`); also when an incremental attempt fails.

The query is evaluated over changes by calling the flow again with its table reads answered
by change DataFrames (:meth:`UpdateGraph.substituted`), so Python and SQL views work alike.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeloom.pipelines.mv_plan import PlanShape, analyze
from lakeloom.pipelines.mv_state import (
    CDF_PROPERTY,
    SourceTable,
    ViewState,
    changes_between,
    describe_source,
    forget_state,
    latest_version,
    load_state,
    save_state,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakeloom.pipelines.graph import UpdateGraph
    from lakeloom.pipelines.model import Dataset, FlowDef

log = logging.getLogger("lakeloom.pipelines")
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
_UNCOMPARABLE = ("map<", "variant")


@dataclass
class Plan:
    """How one view is refreshed in this update, and why."""

    technique: str = "COMPLETE_RECOMPUTE"
    reasons: list[str] = field(default_factory=list)
    sources: list[SourceTable] = field(default_factory=list)
    previous: dict[str, int] = field(default_factory=dict)
    inserts_only: bool = True
    changed: list[str] = field(default_factory=list)

    def as_event(self, flow: str) -> dict[str, Any]:
        """``details.planning_information`` of the ``planning_information`` event."""
        chosen = {"maintenance_type": f"MAINTENANCE_TYPE_{self.technique}", "is_chosen": True,
                  "is_applicable": True}
        info: list[dict[str, Any]] = [chosen]
        if self.technique == "COMPLETE_RECOMPUTE" and self.reasons:
            info.append({"maintenance_type": "MAINTENANCE_TYPE_INCREMENTAL", "is_chosen": False,
                         "is_applicable": False,
                         "incrementalization_issues": [{"issue_type": "INCREMENTAL_REFRESH_NOT_POSSIBLE",
                                                        "prevent_incrementalization": True, "reason": r}
                                                       for r in self.reasons]})
        return {"flow": flow, "technique_information": info,
                "source_table_information": [
                    {"table_name": s.table, "full_size": None, "change_data_feed_enabled": s.cdf,
                     "previous_version": self.previous.get(s.key), "current_version": s.version}
                    for s in self.sources]}


def plan_refresh(graph: UpdateGraph, ds: Dataset, df: DataFrame, reads: list[str], *, full: bool,
                 expectations: bool) -> tuple[Plan, PlanShape, ViewState | None]:
    """Decide how to refresh ``ds`` whose query is ``df`` (which read ``reads``)."""
    plan = Plan()
    tracked = [r for r in reads if ":" not in r]
    keys = list(dict.fromkeys(tracked))
    state = load_state(graph, ds.name)
    # Without a usable earlier refresh only the plan's signature is needed (walking it costs).
    shape = analyze(df, len(tracked), deep=state is not None and not full and not expectations)
    if len(keys) != len(tracked):
        shape.issues.append("reads the same table more than once")
    plan.sources = [describe_source(graph, k, graph.qualified(graph.registry.datasets[k])) for k in keys]
    reasons = plan.reasons
    if full:
        reasons.append("a full refresh was requested")
    if expectations:
        reasons.append("the view has expectations (their counts cover every row)")
    if state is None:
        reasons.append("no earlier refresh is recorded")
    else:
        plan.previous = dict(state.sources)
        if state.signature != shape.signature:
            reasons.append("the view's definition changed")
        elif state.schema != df.schema.json():
            reasons.append("the view's schema changed")
        if set(state.sources) != set(keys):
            reasons.append("the view's sources changed")
        target = graph.qualified(ds)
        location = describe_source(graph, ds.name.lower(), target).location
        if location is None or latest_version(location) != state.target_version:
            reasons.append("the view's table was changed outside the pipeline")
    reasons.extend(shape.issues)
    if any(t in f.dataType.simpleString() for f in df.schema.fields for t in _UNCOMPARABLE) \
            and shape.kind == "rows":
        reasons.append("a map or variant column cannot be compared")
    if reasons:
        return plan, shape, state
    for src in plan.sources:
        before = plan.previous[src.key]
        if src.location is None:
            reasons.append(f"source {src.table} is not on a local file system")
        elif not src.cdf:
            reasons.append(f"source {src.table} has no change data feed ({CDF_PROPERTY})")
        elif src.version < before:
            reasons.append(f"source {src.table} was recreated")
        elif src.version > before:
            changes = changes_between(src.location, before, src.version)
            if changes.problem:
                reasons.append(f"source {src.table}: {changes.problem}")
            plan.inserts_only &= changes.inserts_only
            plan.changed.append(src.key)
    if reasons:
        return plan, shape, state
    if not plan.changed:
        plan.technique = "NO_OP"
    elif shape.kind == "rows":
        if plan.inserts_only:
            plan.technique = "APPEND_ONLY"
        elif len(plan.sources) == 1:
            plan.technique = "ROW_BASED"
        else:
            reasons.append("updates or deletes in a joined source")
    elif plan.inserts_only and shape.combinable:
        plan.technique = "INCREMENTAL_AGGREGATE"
    elif len(plan.sources) == 1 and shape.source_keys:
        plan.technique = "GROUP_AGGREGATE"
    else:
        reasons.append("the aggregation's groups cannot be traced to source columns"
                       if len(plan.sources) == 1 else "an aggregation over a join with updates or deletes")
    return plan, shape, state


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
    save_state(graph, ds.name, ViewState(shape.signature, df.schema.json(), view.version,
                                         {s.key: s.version for s in plan.sources}))


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
            metrics = last_commit_metrics(graph, graph.qualified(ds))
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
