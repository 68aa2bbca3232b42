"""Deciding how a materialized view is refreshed in this update, and why.

:func:`plan_refresh` compares the view's query and sources with what its last refresh
recorded (:mod:`lakeloom.pipelines.mv_state`) and picks a technique
(:mod:`lakeloom.pipelines.mv_refresh` lists them), or ``COMPLETE_RECOMPUTE`` with the reasons.

Planning is the fixed cost of every refresh, paid even when nothing changed, so it asks Spark
as little as it can: the analysis of the query's plan (:mod:`lakeloom.pipelines.mv_plan`, a
walk of hundreds of py4j calls) is reused from the last refresh while the plan's signature is
the same, the tables' locations and change-feed settings are taken from the last refresh when
the catalog still has them there (instead of a ``DESCRIBE DETAIL`` job per table), and
versions and commits come from the ``_delta_log`` files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeloom.pipelines.mv_plan import PlanShape, analyze
from lakeloom.pipelines.mv_state import (
    CDF_PROPERTY,
    SourceTable,
    ViewState,
    changes_between,
    describe_source,
    latest_version,
    load_state,
    reuse_details,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakeloom.pipelines.graph import UpdateGraph
    from lakeloom.pipelines.model import Dataset

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
    #: Tables whose details came from the last refresh, and those whose commits since then
    #: were read (so the recorded change-feed setting still holds).
    reused: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)

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
    usable = state is not None and not full and not expectations
    if usable:
        plan.reused = reuse_details(graph, state)  # type: ignore[arg-type]
    # Without a usable earlier refresh only the plan's signature is needed (walking it costs).
    shape = analyze(df, len(tracked), deep=usable, recorded=state.shape if usable else None)  # type: ignore[union-attr]
    if len(keys) != len(tracked) and "reads the same table more than once" not in shape.issues:
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
            else:
                plan.verified.append(src.table)
            plan.inserts_only &= changes.inserts_only
            plan.changed.append(src.key)
        else:
            plan.verified.append(src.table)
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
