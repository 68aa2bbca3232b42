"""What shape a materialized view's query has, read from Spark's analyzed logical plan.

:func:`analyze` walks the plan through py4j (nothing runs) and says whether the view can be
maintained from its sources' changes, and how:

- ``rows``: projections and filters over one source, or inner joins of several, with no
  aggregation: new source rows give new view rows (deleted ones take theirs away);
- ``aggregate``: one ``GROUP BY`` (projections above it allowed, ``HAVING`` not) over such
  a query. Groups are recomputed from the changed keys, or, when the changes are inserts
  only and every output is ``count``/``sum``/``min``/``max``, combined with the stored
  values.

Anything else (non-deterministic expressions, subqueries, windows, unions, sorts, limits,
outer joins, reads that are not tracked tables) is maintained by recomputing the view, and
the reason is reported.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: Plan nodes a maintainable query may contain (besides the tables it reads).
_PASS_THROUGH = {"Project", "Filter", "SubqueryAlias"}
_LEAVES = {"LogicalRelation", "DataSourceV2Relation", "LogicalRelationWithTable", "HiveTableRelation"}
_SUBQUERIES = {"ScalarSubquery", "Exists", "InSubquery", "ListQuery", "LateralSubquery"}
_COMBINABLE = {"Count": "count", "Sum": "sum", "Min": "min", "Max": "max"}
#: Bumped when :func:`analyze` changes its verdicts: shapes recorded by older code are not reused.
ANALYSIS_VERSION = 1


@dataclass
class AggregateOutput:
    """One output column of the GROUP BY: a key, or an aggregate (``func`` set when combinable)."""

    name: str
    is_key: bool
    func: str | None = None


@dataclass
class PlanShape:
    """The verdict on one view's query."""

    kind: str  # "rows" | "aggregate" | "unsupported" | "unknown" (not analyzed)
    issues: list[str] = field(default_factory=list)
    leaves: int = 0
    joins: int = 0
    #: For ``aggregate``: the GROUP BY's outputs, and whether they are the view's columns as is.
    outputs: list[AggregateOutput] = field(default_factory=list)
    aggregate_on_top: bool = False
    #: Key columns that are plain columns of the (single) source, by name.
    source_keys: list[str] = field(default_factory=list)
    signature: str = ""
    #: How many tracked table reads the verdict was made for.
    tracked_reads: int = 0

    @property
    def keys(self) -> list[str]:
        return [o.name for o in self.outputs if o.is_key]

    @property
    def combinable(self) -> bool:
        """Every aggregate output can be combined with its stored value (inserts only)."""
        return self.aggregate_on_top and all(o.is_key or o.func for o in self.outputs)

    def to_record(self) -> dict[str, Any]:
        """The verdict as JSON-able data, for :func:`analyze` to reuse in later updates."""
        return {**asdict(self), "analysis_version": ANALYSIS_VERSION}

    @classmethod
    def from_record(cls, data: dict[str, Any], signature: str, tracked_reads: int) -> PlanShape | None:
        """The recorded verdict if it was made for this very plan (same signature, same number
        of tracked reads, same analysis code); else None."""
        if (data.get("signature") != signature or data.get("tracked_reads") != tracked_reads
                or data.get("analysis_version") != ANALYSIS_VERSION or data.get("kind") in (None, "unknown")):
            return None
        fields = {k: v for k, v in data.items() if k != "analysis_version"}
        try:
            fields["outputs"] = [AggregateOutput(**o) for o in fields.get("outputs", [])]
            return cls(**fields)
        except TypeError:
            return None


def _seq(s: Any) -> list[Any]:
    return [s.apply(i) for i in range(s.size())]


def _name(node: Any) -> str:
    return str(node.getClass().getSimpleName())


def _walk_expr(expr: Any) -> Any:
    yield expr
    for child in _seq(expr.children()):
        yield from _walk_expr(child)


def analyze(df: Any, tracked_reads: int, *, deep: bool = True, recorded: dict[str, Any] | None = None) -> PlanShape:
    """The shape of ``df``'s query; ``tracked_reads`` is how many table reads the flow made that
    lakeloom can follow (each must be one leaf of the plan). Without ``deep`` only the
    signature is taken (kind ``unknown``). ``recorded`` is an earlier verdict
    (:meth:`PlanShape.to_record`): when it was made for the same plan it is returned as is,
    sparing the walk (hundreds of py4j round trips)."""
    plan = df._jdf.queryExecution().analyzed()
    text = str(plan.toString())
    shape = PlanShape("rows", signature=signature(text), tracked_reads=tracked_reads)
    if not deep:
        shape.kind = "unknown"
        return shape
    if recorded is not None:
        known = PlanShape.from_record(recorded, shape.signature, tracked_reads)
        if known is not None:
            return known
    nodes: list[tuple[Any, int]] = []  # (node, depth)
    stack = [(plan, 0)]
    while stack:
        node, depth = stack.pop()
        nodes.append((node, depth))
        stack.extend((c, depth + 1) for c in reversed(_seq(node.children())))
    aggregates = [(n, d) for n, d in nodes if _name(n) == "Aggregate"]
    for node, _ in nodes:
        kind = _name(node)
        children = node.children().size()
        if children == 0:
            if kind not in _LEAVES:
                shape.issues.append(f"reads {kind}, not a table lakeloom tracks")
            shape.leaves += 1
            continue
        if kind == "Join":
            shape.joins += 1
            if str(node.joinType().toString()) != "Inner":
                shape.issues.append(f"{node.joinType().toString()} join (only inner joins are maintained)")
        elif kind not in _PASS_THROUGH and kind != "Aggregate":
            shape.issues.append(f"{kind} in the query")
        for expr in _seq(node.expressions()):
            for e in _walk_expr(expr):
                if _name(e) in _SUBQUERIES:
                    shape.issues.append("subquery expression")
                    break
            if not expr.deterministic():
                shape.issues.append(f"non-deterministic expression {str(expr.sql())[:80]}")
    if shape.leaves != tracked_reads:
        shape.issues.append(f"reads {shape.leaves} relation(s), {tracked_reads} of them pipeline tables")
    if len(aggregates) > 1:
        shape.issues.append("more than one aggregation")
    elif aggregates:
        _aggregate(shape, nodes, aggregates[0])
    shape.issues = list(dict.fromkeys(shape.issues))
    if shape.issues:
        shape.kind = "unsupported"
    return shape


def _aggregate(shape: PlanShape, nodes: list[tuple[Any, int]], found: tuple[Any, int]) -> None:
    agg, depth = found
    shape.kind = "aggregate"
    above = [n for n, d in nodes if d < depth]
    if any(_name(n) == "Filter" for n in above):
        shape.issues.append("HAVING (a filter over the aggregation)")
    shape.aggregate_on_top = all(_renames_nothing(n) for n in above) and _same_names(nodes[0][0], agg)
    groups = _seq(agg.groupingExpressions())
    for expr in _seq(agg.aggregateExpressions()):
        name = str(expr.name())
        top = expr.child() if _name(expr) == "Alias" else expr
        if not any(_name(e) == "AggregateExpression" for e in _walk_expr(expr)):
            if not any(top.semanticEquals(g) for g in groups):
                shape.issues.append(f"output {name} is neither a grouping key nor an aggregate")
            shape.outputs.append(AggregateOutput(name, True))
            continue
        func = None
        if _name(top) == "AggregateExpression" and not top.isDistinct() and top.filter().isEmpty():
            func = _COMBINABLE.get(_name(top.aggregateFunction()))
        shape.outputs.append(AggregateOutput(name, False, func))
    if sum(o.is_key for o in shape.outputs) < len(groups):
        shape.issues.append("a grouping key is not an output column")
    if shape.joins:
        return
    # Keys that are columns of the source as stored (same expression id as the table's column)
    # let a refresh recompute only the groups the changed rows touch.
    keyed = {o.name for o in shape.outputs if o.is_key}
    leaf_columns = {int(a.exprId().id()): str(a.name()) for n, _ in nodes if n.children().size() == 0
                    for a in _seq(n.output())}
    for g in groups:
        column = leaf_columns.get(int(g.exprId().id())) if _name(g) == "AttributeReference" else None
        if column is None or column not in keyed:
            shape.source_keys = []
            return
        shape.source_keys.append(column)


def _renames_nothing(node: Any) -> bool:
    """A node above the aggregation that passes its columns through (a cast allowed)."""
    kind = _name(node)
    if kind == "SubqueryAlias":
        return True
    if kind != "Project":
        return False
    for expr in _seq(node.projectList()):
        inner = expr.child() if _name(expr) == "Alias" else expr
        if _name(inner) == "Cast":
            inner = inner.child()
        if _name(inner) != "AttributeReference" or str(inner.name()) != str(expr.name()):
            return False
    return True


def _same_names(top: Any, agg: Any) -> bool:
    return [str(a.name()) for a in _seq(top.output())] == [str(a.name()) for a in _seq(agg.output())]


_VOLATILE = re.compile(r"#\d+L?|version=\d+|\b\d{10,}\b")


def signature(plan_text: str) -> str:
    """A digest of the analyzed plan without expression ids and table versions: it changes when
    the view's definition (or the literal values in it) changes."""
    return hashlib.sha256(_VOLATILE.sub("", plan_text).encode()).hexdigest()[:32]
