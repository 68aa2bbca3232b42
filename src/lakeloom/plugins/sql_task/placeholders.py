"""``{{name}}`` placeholders in SQL files, as Databricks' own SQL templates write them.

Databricks' ``default-sql`` bundle template writes ``USE CATALOG `{{catalog}}```,
``USE IDENTIFIER({{schema}})`` and ``{{bundle_target}} = "prod"``: a placeholder in SQL
code is a string *value* (which is what makes ``IDENTIFIER({{schema}})`` and the bare
comparison work), while inside a backquoted identifier or a string literal it is part of
that identifier's or literal's text. So, per position:

- in code, ``{{name}}`` becomes the parameter marker ``:name``, bound by Spark to the
  parameter's value (never pasted in as SQL text);
- inside `` `...` `` it becomes the value with backquotes doubled;
- inside ``'...'`` / ``"..."`` it becomes the value escaped for that literal;
- in comments it stays as written.
"""
from __future__ import annotations

import re
from typing import Mapping

from lakeloom.plugins.sql_task.splitter import scan

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class MissingPlaceholderValue(ValueError):
    """A ``{{name}}`` placeholder names no parameter of the task."""


def placeholder_names(sql: str) -> list[str]:
    """The names of the placeholders outside comments, in order, unique."""
    names: dict[str, None] = {}
    for kind, s, e in scan(sql):
        if kind != "comment":
            for m in _PLACEHOLDER.finditer(sql, s, e):
                names[m.group(1)] = None
    return list(names)


def _escape_literal(value: str, quote: str) -> str:
    return value.replace("\\", "\\\\").replace(quote, "\\" + quote)


def expand_placeholders(sql: str, values: Mapping[str, str] | None, source: str = "SQL") -> str:
    """``sql`` with every ``{{name}}`` rewritten as described in the module docstring.

    ``values`` None (static validation) puts each name in place of its value. Raises
    MissingPlaceholderValue naming ``source`` and the line of a placeholder with no value.
    """
    if "{{" not in sql:
        return sql
    out: list[str] = []
    for kind, s, e in scan(sql):
        segment = sql[s:e]
        if kind == "comment" or "{{" not in segment:
            out.append(segment)
            continue

        def value(m: re.Match[str], start: int = s) -> str:
            name = m.group(1)
            if values is None:
                return name
            if name not in values:
                line = sql.count("\n", 0, start + m.start()) + 1
                known = ", ".join(sorted(values)) or "none"
                raise MissingPlaceholderValue(f"{source}, line {line}: {{{{{name}}}}} has no value "
                                              f"(parameters given: {known})")
            return values[name]

        if kind == "code":
            if values is not None:
                for m in _PLACEHOLDER.finditer(segment):
                    value(m)
            out.append(_PLACEHOLDER.sub(lambda m: f":{m.group(1)}", segment))
        elif kind == "ident":
            out.append(_PLACEHOLDER.sub(lambda m: value(m).replace("`", "``"), segment))
        elif kind == "string":
            quote = segment[0]
            out.append(_PLACEHOLDER.sub(lambda m: _escape_literal(value(m), quote), segment))
        else:
            out.append(segment)
    return "".join(out)
