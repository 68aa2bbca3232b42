"""Static checks of SQL: every statement parsed with sqlglot (Databricks dialect)."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from lakeloom.plugin_api import SpecIssue
from lakeloom.plugins.sql_task.placeholders import expand_placeholders
from lakeloom.plugins.sql_task.splitter import SqlSyntaxError, scan, split_statements, strip_comments


#: Delta commands Spark parses but sqlglot does not, and Databricks SQL's REFRESH of a
#: streaming table or materialized view: left to be checked at run time rather than reported
#: as syntax errors.
_SPARK_ONLY = re.compile(r"^(DESC(RIBE)?\s+(DETAIL|HISTORY)\b|RESTORE\s|CONVERT\s+TO\s+DELTA\b|GENERATE\s|FSCK\s|REORG\s"
                         r"|REFRESH\s+(MATERIALIZED\s+VIEW|STREAMING\s+TABLE)\s)", re.IGNORECASE)


def _mask_bodies(sql: str) -> str:
    """Dollar-quoted bodies (``$$ ... $$``, Python UDFs) as same-length string literals:
    sqlglot does not tokenize them, and positions after them must not move."""
    parts = []
    for kind, s, e in scan(sql):
        seg = sql[s:e]
        parts.append("'" + "".join(c if c == "\n" else " " for c in seg[1:-1]) + "'" if kind == "body" else seg)
    return "".join(parts)


_IDENTIFIER_CALL = re.compile(r"\bIDENTIFIER\s*\(", re.IGNORECASE)


def _mask_identifier_expressions(sql: str) -> str:
    """``IDENTIFIER(<expression>)`` as ``IDENTIFIER(:_)`` padded to the same length (newlines
    kept). Databricks and Spark take any constant string expression there
    (``IDENTIFIER('main.' || :schema || '.t')``, ``IDENTIFIER({{catalog}} || '.' || {{schema}})``),
    sqlglot only a single value in DDL names; Spark checks the expression at run time."""
    code = [(s, e) for kind, s, e in scan(sql) if kind == "code"]
    out, done = [], 0
    for m in _IDENTIFIER_CALL.finditer(sql):
        if m.start() < done or not any(s <= m.start() and m.end() <= e for s, e in code):
            continue
        depth, close = 1, None
        for s, e in code:  # parentheses count only in code, not in strings or comments
            for i in range(max(s, m.end()), e):
                depth += {"(": 1, ")": -1}.get(sql[i], 0)
                if depth == 0:
                    close = i
                    break
            if close is not None:
                break
        inner = sql[m.end():close] if close is not None else ""
        if close is None or len(inner.strip()) < 2 or ("||" not in inner and "(" not in inner):
            continue
        filler = "".join(c if c == "\n" else " " for c in inner[2:])
        out += [sql[done:m.end()], ":_", filler]
        done = close
    return "".join(out) + sql[done:]


def sql_syntax_errors(sql_text: str, label: str, *, line_offset: int = 0) -> list[str]:
    """``"<label>:<line>:<col>: <message>"`` for each statement sqlglot cannot parse.

    Compound ``BEGIN ... END`` blocks and the Delta commands sqlglot cannot parse
    (``DESCRIBE DETAIL``, ``RESTORE``, ``CONVERT TO DELTA``, ...) are not checked. ``line_offset`` shifts lines (for SQL embedded in a notebook).
    """
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    try:
        statements = split_statements(sql_text)
    except SqlSyntaxError as e:
        return [f"{label}: {e}"]
    problems: list[str] = []
    sqlglot_log = logging.getLogger("sqlglot")
    previous = sqlglot_log.level
    sqlglot_log.setLevel(logging.ERROR)  # "unsupported syntax, falling back to Command" is not an error
    try:
        for stmt in statements:
            code = strip_comments(stmt.text)
            if code.lstrip().upper().startswith("BEGIN") or _SPARK_ONLY.match(code.lstrip()):
                continue
            lead_lines = stmt.text[: len(stmt.text) - len(stmt.text.lstrip())].count("\n")
            base_line = stmt.line - (code[: len(code) - len(code.lstrip())].count("\n") - lead_lines)
            try:
                sqlglot.parse(_mask_identifier_expressions(_mask_bodies(stmt.text)), read="databricks")
            except ParseError as e:
                err = e.errors[0] if e.errors else {}
                line = base_line + int(err.get("line") or 1) - 1 + line_offset
                problems.append(f"{label}:{line}:{err.get('col') or 0}: syntax error: "
                                f"{err.get('description') or e}")
            except TokenError as e:
                problems.append(f"{label}:{stmt.line + line_offset}: syntax error: {e}")
    finally:
        sqlglot_log.setLevel(previous)
    return problems


def validate_sql_settings(settings: object, base_dir: Path) -> list[SpecIssue]:
    """The ``TaskType.validate`` of ``sql_task``: file exists, SQL parses."""
    from lakeloom.plugins.sql_task.settings import SqlTaskSettings

    if not isinstance(settings, SqlTaskSettings):
        try:
            settings = SqlTaskSettings.model_validate(settings)
        except ValueError as e:
            errors = getattr(e, "errors", None)
            msgs = [f"{'.'.join(map(str, err['loc'])) or 'sql_task'}: {err['msg'].removeprefix('Value error, ')}"
                    for err in errors()] if callable(errors) else [str(e)]
            return [SpecIssue("sql_task", m) for m in msgs]
    field = "query.query" if settings.query else "file.path" if settings.file else "alert"
    try:
        text, label, path = settings.sql_source(base_dir)
    except FileNotFoundError as e:
        return [SpecIssue(field, str(e))]
    if not text.strip():
        return [SpecIssue(field, f"{label} is empty")]
    label = str(path) if path is not None else label
    return [SpecIssue(field, msg) for msg in sql_syntax_errors(expand_placeholders(text, None), label)]
