"""SQL pipeline definitions, parsed into the same datasets and flows as Python ones.

Supported statements (Databricks Lakeflow / Spark Declarative Pipelines SQL)::

    CREATE [OR REFRESH] [PRIVATE] MATERIALIZED VIEW | [STREAMING] LIVE TABLE | STREAMING TABLE name
        [(col type, ..., CONSTRAINT c EXPECT (cond) [ON VIOLATION DROP ROW | FAIL UPDATE])]
        [COMMENT '...'] [PARTITIONED BY (..)] [CLUSTER BY (..)] [TBLPROPERTIES (..)] [AS query]
    CREATE [OR REPLACE] TEMPORARY [STREAMING] [LIVE] VIEW name [(constraints)] [COMMENT '...'] AS query
    CREATE FLOW name [COMMENT '...'] AS INSERT INTO [ONCE] target [BY NAME] query
    CREATE FLOW name AS AUTO CDC INTO ... | [CREATE FLOW name AS] APPLY CHANGES INTO ... | AUTO CDC INTO ...
    SET key = value         (SET, SET -v and SET key, which only show settings, change nothing)

Queries keep Spark SQL; ``STREAM(x)``, ``STREAM x``, ``[STREAM] read_files(...)`` and the
legacy ``LIVE.`` prefix are resolved when the query runs (:mod:`lakeloom.pipelines.graph`).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lakeloom.pipelines.expectations import Expectation, parse_sql_constraint
from lakeloom.pipelines.model import CdcSpec, Dataset, FlowDef, PipelineDefinitionError
from lakeloom.runtime.sqltext import balanced, split_statements, split_top_level, string_value

if TYPE_CHECKING:
    from lakeloom.pipelines.registry import PipelineRegistry

_NAME = r"(?P<name>(?:`[^`]+`|[\w]+)(?:\.(?:`[^`]+`|[\w]+))*)"
_TABLE = re.compile(
    r"^CREATE\s+(?:OR\s+(?:REFRESH|REPLACE)\s+)?(?:PRIVATE\s+|TEMPORARY\s+)?"
    r"(?P<kind>MATERIALIZED\s+VIEW|STREAMING\s+LIVE\s+TABLE|STREAMING\s+TABLE|INCREMENTAL\s+LIVE\s+TABLE|LIVE\s+TABLE)"
    r"\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _NAME, re.IGNORECASE | re.DOTALL)
_VIEW = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+|TEMP\s+)?(?:STREAMING\s+)?(?:LIVE\s+)?VIEW\s+"
                   r"(?:IF\s+NOT\s+EXISTS\s+)?" + _NAME, re.IGNORECASE | re.DOTALL)
_FLOW = re.compile(r"^CREATE\s+FLOW\s+" + _NAME + r"\s+(?:COMMENT\s+'(?:[^']|'')*'\s+)?AS\s+", re.IGNORECASE | re.DOTALL)
_INSERT = re.compile(r"^INSERT\s+INTO\s+(?P<once>ONCE\s+)?" + _NAME + r"\s+(?:BY\s+NAME\s+)?", re.IGNORECASE | re.DOTALL)
_CDC = re.compile(r"^(?:AUTO\s+CDC|APPLY\s+CHANGES)\s+INTO\s+" + _NAME + r"\s+", re.IGNORECASE | re.DOTALL)
_SET = re.compile(r"^SET\s+(?P<k>[^=\s]+)\s*=\s*(?P<v>.*)$", re.IGNORECASE | re.DOTALL)
#: ``SET``, ``SET -v`` and ``SET key`` show settings in a notebook; in a pipeline they change nothing.
_SHOW_SET = re.compile(r"^SET(?:\s+-v)?(?:\s+[^=\s]+)?\s*$", re.IGNORECASE)


_NOTEBOOK_HEADER = re.compile(r"\A\s*--\s*Databricks notebook source[ \t]*$", re.MULTILINE)
_CELL_SEPARATOR = re.compile(r"^[ \t]*--[ \t]*COMMAND[ \t]*-{10,}[ \t]*$", re.MULTILINE)


def register_sql_text(reg: PipelineRegistry, text: str, file: str) -> None:
    """Parse every statement of ``text`` (from ``file``) into ``reg``.

    In a SQL source notebook (first line ``-- Databricks notebook source``) a cell separator
    ends a statement, as on Databricks, so cells need no trailing semicolon."""
    if _NOTEBOOK_HEADER.match(text):
        text = _CELL_SEPARATOR.sub(";", text)
    for stmt, line in split_statements(text):
        where = f"{file}:{line}"
        try:
            _register_statement(reg, stmt, where)
        except PipelineDefinitionError:
            raise
        except ValueError as e:
            raise PipelineDefinitionError(str(e) if str(e).startswith(file) else f"{where}: {e}") from None


def _register_statement(reg: PipelineRegistry, stmt: str, where: str) -> None:
    m = _TABLE.match(stmt)
    if m:
        kind_words = m.group("kind").upper().split()
        kind = "materialized_view" if kind_words[0] in ("MATERIALIZED", "LIVE") else "streaming_table"
        _register_table(reg, kind, _unquote(m.group("name")), stmt[m.end():], where)
        return
    m = _VIEW.match(stmt)
    if m:
        _register_table(reg, "view", _unquote(m.group("name")), stmt[m.end():], where)
        return
    m = _FLOW.match(stmt)
    if m:
        _register_flow_body(reg, _unquote(m.group("name")), stmt[m.end():], where)
        return
    if _CDC.match(stmt):
        _register_flow_body(reg, None, stmt, where)
        return
    m = _SET.match(stmt)
    if m:
        reg.sql_conf[m.group("k")] = m.group("v").strip().strip("'\"")
        return
    if _SHOW_SET.match(stmt):
        return
    first = " ".join(stmt.split()[:3])
    raise PipelineDefinitionError(f"{where}: unsupported statement in a pipeline SQL file: {first!r} (expected "
                                  "CREATE MATERIALIZED VIEW / STREAMING TABLE / TEMPORARY VIEW / FLOW, "
                                  "AUTO CDC INTO, APPLY CHANGES INTO or SET)")


def _register_table(reg: PipelineRegistry, kind: str, name: str, rest: str, where: str) -> None:
    ds = Dataset(name, kind, where)  # type: ignore[arg-type]
    rest = rest.strip()
    if rest.startswith("("):
        body, rest = balanced(rest, where)
        columns = []
        for item in split_top_level(body):
            e = parse_sql_constraint(item, where=where)
            if e is not None:
                ds.expectations.append(e)
            elif item.strip():
                columns.append(item.strip())
        if columns:
            ds.schema = ", ".join(columns)
    query: str | None = None
    while rest:
        m = _COMMENT.match(rest)
        if m:
            ds.comment, rest = string_value(m.group(1)), rest[m.end():]
            continue
        m = re.match(r"^(PARTITIONED\s+BY|CLUSTER\s+BY|TBLPROPERTIES)\s*(?=\()", rest, re.IGNORECASE)
        if m:
            inner, rest = balanced(rest[m.end():], where)
            rest = rest.lstrip()
            clause = " ".join(m.group(1).upper().split())
            if clause == "TBLPROPERTIES":
                ds.table_properties.update(_properties(inner, where))
            elif clause == "PARTITIONED BY":
                ds.partition_cols = [_unquote(c.strip()) for c in split_top_level(inner)]
            else:
                ds.cluster_by = [_unquote(c.strip()) for c in split_top_level(inner)]
            continue
        m = re.match(r"^(?:USING\s+(?P<fmt>\w+)|LOCATION\s+'[^']*'|SCHEDULE\s+[^\n]*?(?=\bAS\b))\s*", rest, re.IGNORECASE)
        if m:
            if m.group("fmt"):
                ds.format = m.group("fmt").lower()
            rest = rest[m.end():]
            continue
        m = re.match(r"^AS\s+", rest, re.IGNORECASE)
        if m:
            query, rest = rest[m.end():].strip(), ""
            break
        raise PipelineDefinitionError(f"{where}: cannot parse {rest.split()[0]!r} in the definition of {name!r}")
    if ds.kind == "view":
        # Constraints on a view apply to its single flow.
        view_expectations, ds.expectations = ds.expectations, []
    else:
        view_expectations = []
    reg.add_dataset(ds)
    if query is None:
        if kind != "streaming_table":
            raise PipelineDefinitionError(f"{where}: {ds.label} needs AS <query>")
        return
    reg.add_flow(FlowDef(name, name, location=where, sql=query, expectations=view_expectations))


def _register_flow_body(reg: PipelineRegistry, flow_name: str | None, body: str, where: str) -> None:
    m = _INSERT.match(body)
    if m:
        if flow_name is None:
            raise PipelineDefinitionError(f"{where}: INSERT INTO flows need CREATE FLOW name AS ...")
        reg.add_flow(FlowDef(flow_name, _unquote(m.group("name")), location=where, sql=body[m.end():].strip(),
                             once=bool(m.group("once"))))
        return
    m = _CDC.match(body)
    if not m:
        raise PipelineDefinitionError(f"{where}: CREATE FLOW ... AS must be followed by INSERT INTO, "
                                      "AUTO CDC INTO or APPLY CHANGES INTO")
    target = _unquote(m.group("name"))
    cdc = parse_cdc_clauses(body[m.end():], where)
    reg.add_flow(FlowDef(flow_name or target, target, location=where, cdc=cdc))


_CDC_KEYWORDS = (r"(?=\s+(?:KEYS|IGNORE\s+NULL\s+UPDATES|APPLY\s+AS|SEQUENCE\s+BY|COLUMNS|STORED\s+AS|"
                 r"TRACK\s+HISTORY)\b|\s*$)")


def parse_cdc_clauses(text: str, where: str) -> CdcSpec:
    """``FROM src KEYS (..) [IGNORE NULL UPDATES] [APPLY AS DELETE WHEN c] SEQUENCE BY e
    [COLUMNS ..] [STORED AS SCD TYPE n] [TRACK HISTORY ON ..]``."""
    flags = re.IGNORECASE | re.DOTALL

    def clause(pattern: str) -> re.Match[str] | None:
        return re.search(pattern + r"\s+(?P<v>.+?)" + _CDC_KEYWORDS, " " + text, flags)

    src = re.match(r"^\s*FROM\s+(?:STREAM\s*\(\s*(?P<a>[^)]+?)\s*\)|STREAM\s+(?P<b>[\w.`]+)|(?P<c>[\w.`]+))", text, flags)
    if not src:
        raise PipelineDefinitionError(f"{where}: AUTO CDC needs FROM STREAM(source)")
    source = _unquote((src.group("a") or src.group("b") or src.group("c")).strip())
    source = re.sub(r"^LIVE\.", "", source, flags=re.IGNORECASE)
    keys_m = re.search(r"\bKEYS\s*\(([^)]*)\)", text, flags)
    seq_m = clause(r"\bSEQUENCE\s+BY")
    if not keys_m or not seq_m:
        raise PipelineDefinitionError(f"{where}: AUTO CDC needs KEYS (...) and SEQUENCE BY")
    spec = CdcSpec(source=source, keys=[_unquote(k.strip()) for k in keys_m.group(1).split(",") if k.strip()],
                   sequence_by=seq_m.group("v").strip())
    deletes = clause(r"\bAPPLY\s+AS\s+DELETE\s+WHEN")
    if deletes:
        spec.apply_as_deletes = deletes.group("v").strip()
    if re.search(r"\bAPPLY\s+AS\s+TRUNCATE\s+WHEN", text, flags):
        raise PipelineDefinitionError(f"{where}: APPLY AS TRUNCATE WHEN is not supported by lakeloom")
    spec.ignore_null_updates = bool(re.search(r"\bIGNORE\s+NULL\s+UPDATES\b", text, flags))
    cols = clause(r"\bCOLUMNS")
    if cols:
        spec.column_list, spec.except_column_list = _column_selection(cols.group("v"))
    scd = re.search(r"\bSTORED\s+AS\s+SCD\s+TYPE\s+(\d)", text, flags)
    if scd:
        spec.stored_as_scd_type = int(scd.group(1))
        if spec.stored_as_scd_type not in (1, 2):
            raise PipelineDefinitionError(f"{where}: STORED AS SCD TYPE must be 1 or 2")
    track = clause(r"\bTRACK\s+HISTORY\s+ON")
    if track:
        spec.track_history_column_list, spec.track_history_except_column_list = _column_selection(track.group("v"))
    return spec


def _column_selection(text: str) -> tuple[list[str] | None, list[str] | None]:
    text = text.strip()
    m = re.match(r"^\*\s+EXCEPT\s*\((.*)\)$", text, re.IGNORECASE | re.DOTALL)
    if m:
        return None, [_unquote(c.strip()) for c in m.group(1).split(",") if c.strip()]
    if text == "*":
        return None, None
    return [_unquote(c.strip()) for c in text.strip("()").split(",") if c.strip()], None


#: COMMENT 'text' or COMMENT "text" (Spark reads both as string literals; \\ escapes, '' doubles).
_COMMENT = re.compile(r"""^COMMENT\s+('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")\s*""", re.IGNORECASE | re.DOTALL)


def _properties(inner: str, where: str) -> dict[str, str]:
    out = {}
    for item in split_top_level(inner):
        m = re.match(r"""^\s*['"]?([^'"=]+?)['"]?\s*=\s*['"]?(.*?)['"]?\s*$""", item, re.DOTALL)
        if not m:
            raise PipelineDefinitionError(f"{where}: cannot parse table property {item.strip()!r}")
        out[m.group(1).strip()] = m.group(2)
    return out


def _unquote(name: str) -> str:
    return ".".join(p.strip("`") for p in re.findall(r"`[^`]+`|[^.]+", name.strip()))


__all__ = ["Expectation", "parse_cdc_clauses", "register_sql_text"]
