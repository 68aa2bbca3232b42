"""Small SQL text helpers: statement splitting, balanced parentheses, string literals, and
Databricks' ``read_files(...)`` table function rewritten to temporary views (Spark has no such
function). Pure text; no pyspark. Pipelines add their own syntax (``STREAM(x)``, ``LIVE.x``) on
top, in :mod:`lakeloom.pipelines.graph`."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator


def _skip_quoted(text: str, i: int) -> int:
    """Index just past the quoted literal/identifier starting at ``text[i]``."""
    q = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == "\\" and q != "`":
            j += 2
            continue
        if text[j] == q:
            if j + 1 < len(text) and text[j + 1] == q:
                j += 2
                continue
            return j + 1
        j += 1
    return len(text)


def split_statements(text: str) -> list[tuple[str, int]]:
    """Statements of a SQL script with comments removed, each with its 1-based start line."""
    out: list[tuple[str, int]] = []
    buf: list[str] = []
    start_line: int | None = None
    i, n = 0, len(text)

    def flush() -> None:
        nonlocal buf, start_line
        stmt = "".join(buf).strip()
        if stmt:
            out.append((stmt, start_line or 1))
        buf, start_line = [], None

    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            buf.append(" ")
            continue
        if ch == ";":
            flush()
            i += 1
            continue
        if start_line is None and not ch.isspace():
            start_line = text.count("\n", 0, i) + 1
        if ch in "'\"`":
            j = _skip_quoted(text, i)
            buf.append(text[i:j])
            i = j
            continue
        buf.append(ch)
        i += 1
    flush()
    return out


def _top_level(text: str) -> Iterator[tuple[int, str, int]]:
    """``(index, character, parenthesis depth after it)`` for every character outside quotes."""
    depth, i = 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"`":
            i = _skip_quoted(text, i)
            continue
        depth += (ch == "(") - (ch == ")")
        yield i, ch, depth
        i += 1


def balanced(text: str, where: str) -> tuple[str, str]:
    """Split ``(inner) rest`` at the parenthesis matching ``text[0]``; returns (inner, rest)."""
    if not text.startswith("("):
        raise ValueError(f"{where}: expected '('")
    for i, ch, depth in _top_level(text):
        if ch == ")" and depth == 0:
            return text[1:i], text[i + 1:].lstrip()
    raise ValueError(f"{where}: unbalanced parentheses")


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    parts, start = [], 0
    for i, ch, depth in _top_level(text):
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


@dataclass
class Rewritten:
    """A query with pipeline-only syntax replaced by temporary view names."""

    sql: str
    #: view name -> ("files", (streaming, path, options)); pipelines add ("stream", table name)
    views: dict[str, tuple[str, Any]] = field(default_factory=dict)


_READ_FILES = re.compile(r"\b(?P<stream>STREAM\s*\(?\s*)?read_files\s*(?=\()", re.IGNORECASE)
def rewrite_read_files(sql: str, prefix: str) -> Rewritten:
    """Replace each ``[STREAM] read_files(...)`` call with a temporary view name; the caller
    creates the views (``views[name] = ("files", (streaming, path, options))``). Calls inside
    quotes or comments are text."""
    out = Rewritten(sql)
    if _READ_FILES.search(sql):
        out.sql = _replace_read_files(sql, prefix, out)
    return out


def _in_code(text: str, pos: int) -> bool:
    """Whether ``text[pos]`` is SQL code, not inside a quoted literal, identifier or comment."""
    i = 0
    while i < pos:
        if text[i] in "'\"`":
            i = _skip_quoted(text, i)
            if i > pos:
                return False
        elif text.startswith("--", i):
            nl = text.find("\n", i)
            if nl < 0 or nl >= pos:
                return False
            i = nl + 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0 or close + 2 > pos:
                return False
            i = close + 2
        else:
            i += 1
    return True


def _replace_read_files(text: str, prefix: str, out: Rewritten) -> str:
    start = 0
    while True:
        m = _READ_FILES.search(text, start)
        if not m:
            break
        if not _in_code(text, m.start()):
            start = m.end()
            continue
        inner, rest = balanced(text[m.end():], "read_files")
        streaming = bool(m.group("stream"))
        if streaming and m.group("stream").rstrip().endswith("("):
            rest = rest.lstrip()
            if rest.startswith(")"):
                rest = rest[1:]
        path, options = parse_read_files_args(inner)
        name = f"{prefix}_{len(out.views)}"
        out.views[name] = ("files", (streaming, path, options))
        text = text[:m.start()] + name + " " + rest
    return text


_CLOUD_FILES = re.compile(r"\bcloud_files\s*(?=\()", re.IGNORECASE)
#: read_files option names that a ``cloud_files`` map may give with the ``cloudFiles.`` prefix.
_CLOUD_FILES_KEYS = ("inferColumnTypes", "schemaHints", "schemaLocation", "maxFilesPerTrigger", "maxBytesPerTrigger")


def rewrite_cloud_files(out: Rewritten, prefix: str) -> None:
    """Replace each legacy pipeline SQL ``cloud_files(path, format[, map(k, v, ...)])`` call in
    ``out.sql`` with a temporary view name, as a ``STREAM read_files(...)`` (Auto Loader) view.
    As in Auto Loader, columns stay strings unless ``cloudFiles.inferColumnTypes`` is true."""
    start = 0
    text = out.sql
    while True:
        m = _CLOUD_FILES.search(text, start)
        if not m:
            break
        if not _in_code(text, m.start()):
            start = m.end()
            continue
        inner, rest = balanced(text[m.end():], "cloud_files")
        path, options = parse_cloud_files_args(inner)
        name = f"{prefix}_{len(out.views)}"
        out.views[name] = ("files", (True, path, options))
        text = text[:m.start()] + name + " " + rest
    out.sql = text


def parse_cloud_files_args(inner: str) -> tuple[str, dict[str, str]]:
    """``'path', 'json'[, map('k', 'v', ...)]`` into (path, read_files options)."""
    items = split_top_level(inner)
    if len(items) < 2 or len(items) > 3:
        raise ValueError("cloud_files needs (path, format[, map(option, value, ...)])")
    options = {"format": _literal(items[1]), "inferColumnTypes": "false"}
    if len(items) == 3:
        m = re.match(r"^\s*map\s*\((?P<args>.*)\)\s*$", items[2], re.IGNORECASE | re.DOTALL)
        pairs = split_top_level(m.group("args")) if m else []
        if not m or len(pairs) % 2:
            raise ValueError(f"cloud_files: options must be map(key, value, ...), got {items[2].strip()!r}")
        for key, value in zip(pairs[::2], pairs[1::2]):
            k = _literal(key)
            short = k.split(".", 1)[1] if k.lower().startswith("cloudfiles.") else None
            if short and short.lower() in (o.lower() for o in _CLOUD_FILES_KEYS):
                k = next(o for o in _CLOUD_FILES_KEYS if o.lower() == short.lower())
            options[k] = _literal(value)
    return _literal(items[0]), options


def parse_read_files_args(inner: str) -> tuple[str, dict[str, str]]:
    """``'path', format => 'json', header => true`` into (path, options)."""
    items = split_top_level(inner)
    if not items:
        raise ValueError("read_files needs a path")
    path = _literal(items[0])
    options: dict[str, str] = {}
    for item in items[1:]:
        m = re.match(r"^\s*`?([\w.]+)`?\s*=>\s*(.+?)\s*$", item, re.DOTALL)
        if not m:
            raise ValueError(f"read_files: cannot parse argument {item.strip()!r} (expected name => value)")
        options[m.group(1)] = _literal(m.group(2))
    return path, options


def string_value(quoted: str) -> str:
    """The text of a SQL string literal in single or double quotes (doubled quotes and
    backslash escapes undone, as Spark reads them)."""
    q, body = quoted[0], quoted[1:-1]
    body = body.replace(q + q, q)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _literal(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1].replace(t[0] * 2, t[0])
    return t
