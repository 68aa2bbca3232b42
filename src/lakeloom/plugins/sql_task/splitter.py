"""Split SQL text into statements and find ``:name`` parameter markers.

A small scanner that knows Spark SQL's lexical rules for what may hide a ``;`` or a
``:``: ``'...'`` and ``"..."`` strings (backslash escapes and doubled quotes),
`` `...` `` identifiers (doubled backticks), ``-- ...`` comments, nested
``/* ... */`` comments and ``$$ ... $$`` / ``$tag$ ... $tag$`` bodies. A compound
``BEGIN ... END`` block (SQL scripting) is kept as one statement.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


class SqlSyntaxError(ValueError):
    """Unterminated string, identifier or comment; the message names the line."""


@dataclass(frozen=True)
class Statement:
    """One statement: its text (without the ``;``), 1-based start line, and offset."""

    text: str
    line: int
    offset: int

    @property
    def first_line(self) -> str:
        """The statement's first non-blank, non-comment line (for messages)."""
        for ln in strip_comments(self.text).splitlines():
            if ln.strip():
                return ln.strip()
        return ""


def _line_of(sql: str, pos: int) -> int:
    return sql.count("\n", 0, pos) + 1


def scan(sql: str) -> Iterator[tuple[str, int, int]]:
    """Yield ``(kind, start, end)`` segments; kind is ``code``, ``string``,
    ``ident``, ``comment`` or ``body`` (dollar-quoted)."""
    i, n, code_start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        kind = end = None
        if ch in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            if j >= n:
                raise SqlSyntaxError(f"line {_line_of(sql, i)}: unterminated string starting with {ch}")
            kind, end = "string", j + 1
        elif ch == "`":
            j = i + 1
            while j < n and not (sql[j] == "`" and not (j + 1 < n and sql[j + 1] == "`")):
                j += 2 if sql[j] == "`" else 1
            if j >= n:
                raise SqlSyntaxError(f"line {_line_of(sql, i)}: unterminated `identifier`")
            kind, end = "ident", j + 1
        elif ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            kind, end = "comment", n if j < 0 else j
        elif ch == "/" and sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise SqlSyntaxError(f"line {_line_of(sql, i)}: unterminated /* comment */")
            kind, end = "comment", j
        elif ch == "$":
            m = _DOLLAR_TAG.match(sql, i)
            if m and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                close = sql.find(m.group(0), m.end())
                if close < 0:
                    raise SqlSyntaxError(f"line {_line_of(sql, i)}: unterminated {m.group(0)} body")
                kind, end = "body", close + len(m.group(0))
        if kind is None:
            i += 1
            continue
        if code_start < i:
            yield "code", code_start, i
        yield kind, i, end
        i = code_start = end
    if code_start < n:
        yield "code", code_start, n


def strip_comments(sql: str) -> str:
    """``sql`` with comments replaced by spaces (line structure kept)."""
    out = []
    for kind, s, e in scan(sql):
        seg = sql[s:e]
        out.append(re.sub(r"[^\n]", " ", seg) if kind == "comment" else seg)
    return "".join(out)


_LOOP_ENDS = ("IF", "WHILE", "LOOP", "FOR", "REPEAT")


def split_statements(sql: str) -> list[Statement]:
    """The statements of ``sql``, in order; empty ones (and comment-only ones) dropped.

    ``Statement.line`` is the line of the statement's first token (comments before
    it are kept in the text but do not count).
    """
    statements: list[Statement] = []
    start, depth, compound, seen_word = 0, 0, False, False

    def flush(end: int) -> None:
        text = sql[start:end]
        code = strip_comments(text)
        if code.strip():
            lead = len(text) - len(text.lstrip())
            first_token = len(code) - len(code.lstrip())
            statements.append(Statement(text.strip(), _line_of(sql, start + first_token), start + lead))

    for kind, s, e in scan(sql):
        if kind != "code":
            continue
        for m in re.finditer(r";|[A-Za-z_][A-Za-z0-9_]*", sql[s:e]):
            pos = s + m.start()
            if m.group(0) == ";":
                if compound and depth > 0:
                    continue
                flush(pos)
                start, depth, compound, seen_word = pos + 1, 0, False, False
                continue
            word = m.group(0).upper()
            if not seen_word:
                seen_word, compound = True, word == "BEGIN"
            if not compound:
                continue
            if word in ("BEGIN", "CASE"):
                depth += 1
            elif word == "END":
                nxt = _WORD.match(sql, pos + 3 + (len(sql[pos + 3:]) - len(sql[pos + 3:].lstrip())))
                if not (nxt and nxt.group(0).upper() in _LOOP_ENDS):
                    depth -= 1
    flush(len(sql))
    return statements


_MARKER = re.compile(r"(?<![:\w\]\)\"'`]):([A-Za-z_][A-Za-z0-9_]*)")


def parameter_markers(sql: str) -> list[str]:
    """Names of the ``:name`` markers in ``sql`` (outside strings, comments and
    identifiers; ``::`` casts and ``a:b`` paths are not markers), in order, unique."""
    names: dict[str, None] = {}
    for kind, s, e in scan(sql):
        if kind == "code":
            for m in _MARKER.finditer(sql, s, e):
                if not (m.start() > 0 and sql[m.start() - 1] == ":"):
                    names[m.group(1)] = None
    return list(names)
