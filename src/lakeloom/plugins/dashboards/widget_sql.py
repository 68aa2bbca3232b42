"""The SQL lakeloom runs for one widget query: its field expressions over the dataset.

Databricks computes ``fields[].expression`` over the dataset, grouped by every field that
is not an aggregate unless the query is ``disaggregated``. Fields that a filter widget
targets are added as extra grouping columns (``__filter__<field>``) so the browser can
filter the stored rows and roll the aggregates up again without a new refresh.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from lakeloom.plugins.dashboards.model import ASSOCIATIVITY_COLUMN, WidgetQuery

FILTER_COLUMN_PREFIX = "__filter__"
COUNT_COLUMN_PREFIX = "__n__"
_STAR = re.compile(r"\(\s*`\*`\s*\)")


class ExpressionError(ValueError):
    """A field expression sqlglot cannot parse."""


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def normalize(expression: str) -> str:
    """Databricks writes ``COUNT(`*`)``; Spark reads a column named ``*`` there."""
    return _STAR.sub("(*)", expression)


@lru_cache(maxsize=4096)
def _parse(expression: str):  # type: ignore[no-untyped-def]
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        return sqlglot.parse_one(normalize(expression), dialect="databricks")
    except ParseError as e:
        raise ExpressionError(str(e).splitlines()[0]) from None


def is_aggregate(expression: str) -> bool:
    from sqlglot import exp

    return _parse(expression).find(exp.AggFunc) is not None


def rollup(expression: str) -> tuple[str | None, str | None]:
    """How the browser re-aggregates this field after filtering: (kind, averaged argument).

    ``sum`` for SUM/COUNT/COUNT_IF, ``min``/``max``, ``avg`` (weighted by a count column of
    the argument), None when the value cannot be rebuilt from groups (COUNT DISTINCT, ...).
    """
    from sqlglot import exp

    node = _parse(expression)
    if isinstance(node, exp.Alias):
        node = node.this
    if isinstance(node, exp.Count) and not isinstance(node.this, exp.Distinct):
        return "sum", None
    if isinstance(node, (exp.Sum, exp.CountIf)):
        return "sum", None
    if isinstance(node, exp.Min):
        return "min", None
    if isinstance(node, exp.Max):
        return "max", None
    if isinstance(node, exp.Avg):
        return "avg", node.this.sql(dialect="databricks")
    return None, None


@dataclass
class WidgetSql:
    """The statement for one widget query and what its columns mean to the browser."""

    sql: str
    columns: list[str]
    filter_columns: dict[str, str] = field(default_factory=dict)  # filter field -> column
    rollups: dict[str, str | None] = field(default_factory=dict)
    count_columns: dict[str, str] = field(default_factory=dict)  # avg field -> its count column
    aggregated: bool = False


def build(query: WidgetQuery, source: str, filter_fields: list[str], limit: int) -> WidgetSql:
    """``SELECT <expressions> FROM <source> [GROUP BY <non-aggregates>] LIMIT <limit>``.

    ``source`` is a view name or a parenthesised query; ``limit`` is applied as given (the
    caller asks for one row more than it keeps to know whether rows were cut).
    """
    fields = [f for f in query.fields if ASSOCIATIVITY_COLUMN not in f.expression]
    select: list[str] = []
    group: list[str] = []
    out = WidgetSql("", [])
    aggregated = not query.disaggregated and any(is_aggregate(f.expression) for f in fields)
    for f in fields:
        expr = normalize(f.expression)
        select.append(f"{expr} AS {quote(f.name)}")
        out.columns.append(f.name)
        if aggregated and is_aggregate(f.expression):
            kind, avg_arg = rollup(f.expression)
            out.rollups[f.name] = kind
            if avg_arg is not None:
                column = COUNT_COLUMN_PREFIX + f.name
                select.append(f"COUNT({avg_arg}) AS {quote(column)}")
                out.count_columns[f.name] = column
                out.columns.append(column)
        elif aggregated:
            group.append(expr)
    plain = {f.expression.strip().strip("`"): f.name for f in fields if not is_aggregate(f.expression)}
    for name in filter_fields:
        if name in plain:  # the widget already returns the column: filter on it
            out.filter_columns[name] = plain[name]
            continue
        column = FILTER_COLUMN_PREFIX + name
        select.append(f"{quote(name)} AS {quote(column)}")
        out.columns.append(column)
        out.filter_columns[name] = column
        if aggregated:
            group.append(quote(name))
    out.aggregated = aggregated
    sql = f"SELECT {', '.join(select)} FROM {source}"
    if group:
        sql += f" GROUP BY {', '.join(group)}"
    out.sql = f"{sql} LIMIT {int(limit)}"
    return out
