"""SQL text of pipeline queries: pipeline syntax rewritten to views, the tables a query reads,
and table references pointed at other names (with sqlglot)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lakeloom.catalog.names import InvalidNameError, format_name, parse_name
from lakeloom.runtime.sqltext import Rewritten, rewrite_cloud_files, rewrite_read_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _parts(name: str) -> tuple[str, ...]:
    try:
        return tuple(parse_name(name))
    except InvalidNameError:
        return tuple(p.lower() for p in name.split("."))


def replace_tables(sql: str, replacements: dict[str, str]) -> str:
    """``sql`` with every reference to a table named in ``replacements`` (as Spark's parser
    spelled it) replaced by the view name it maps to. A reference keeps its alias, and one
    without an alias is aliased to its own table name, so ``t.col`` still resolves. Raises
    ValueError when the query cannot be rewritten."""
    import sqlglot
    from sqlglot import exp

    wanted = {_parts(k): v for k, v in replacements.items()}
    try:
        tree = sqlglot.parse_one(sql, read="spark")
    except sqlglot.errors.ParseError as e:
        raise ValueError(f"cannot rewrite the query: {e}") from None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    found = 0
    for table in list(tree.find_all(exp.Table)):
        parts = tuple(p.lower() for p in (table.catalog, table.db, table.name) if p)
        if len(parts) == 1 and parts[0] in ctes:
            continue
        view = wanted.get(parts)
        if view is None:
            continue
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
        table.set("this", exp.to_identifier(view))
        table.set("db", None)
        table.set("catalog", None)
        found += 1
    if found == 0:
        raise ValueError("cannot rewrite the query: none of its table references matched")
    return tree.sql(dialect="spark")


_STREAM = re.compile(r"\bSTREAM\s*(?:\(\s*(?P<a>(?:`[^`]+`|\w+)(?:\.(?:`[^`]+`|\w+))*)\s*\)|\s(?!(?:FROM|WHERE|AS|JOIN|ON|GROUP|ORDER|LIMIT|UNION|SELECT)\b)(?P<b>(?:`[^`]+`|\w+)"
                     r"(?:\.(?:`[^`]+`|\w+))*))", re.IGNORECASE)
_LIVE = re.compile(r"\bLIVE\s*\.\s*", re.IGNORECASE)


def rewrite_query(sql: str, prefix: str = "__ll_src") -> Rewritten:
    """Replace ``[STREAM] read_files(...)``, legacy ``cloud_files(...)``, ``STREAM(x)`` /
    ``STREAM x`` and ``LIVE.`` with temporary view names; the caller creates the views. Text
    inside quotes is untouched."""
    if not re.search(r"\b(STREAM|read_files|cloud_files|LIVE)\b", sql, re.IGNORECASE):
        return Rewritten(sql)
    out = rewrite_read_files(sql, prefix)
    rewrite_cloud_files(out, prefix)
    text = _LIVE.sub("", out.sql)

    def stream(m: re.Match[str]) -> str:
        name = f"{prefix}_{len(out.views)}"
        out.views[name] = ("stream", (m.group("a") or m.group("b")).strip())
        return name if m.group("a") else " " + name

    out.sql = _STREAM.sub(stream, text)
    return out


VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
_RELATION = re.compile(r"'UnresolvedRelation \[([^\]]*)\]")


def relation_names(session: SparkSession, sql: str) -> list[str]:
    """Table names a query reads, from Spark's own parser (nothing is analyzed or run)."""
    try:
        tree = session._jsparkSession.sessionState().sqlParser().parsePlan(sql).treeString()
    except Exception:  # noqa: BLE001 - the real call reports the syntax error
        return []
    out = []
    for m in _RELATION.finditer(str(tree)):
        name = format_name([p.strip() for p in m.group(1).split(", ")])
        if name not in out:
            out.append(name)
    return out
