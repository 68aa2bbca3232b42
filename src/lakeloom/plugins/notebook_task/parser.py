"""Read notebooks: Databricks source files (``.py``, ``.sql``) and Jupyter ``.ipynb``.

A Databricks source notebook starts with ``# Databricks notebook source`` (``--`` for
SQL); cells are separated by ``# COMMAND ----------``; non-native cells have every
line prefixed with ``# MAGIC``; ``# DBTITLE 1,<title>`` names a cell. A ``.py`` file
without the header is read as a one-cell Python notebook.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_MAGIC_RE = re.compile(r"^%(?P<name>[A-Za-z][\w-]*)\b[ \t]*(?P<rest>.*)$")
_COMMENT = {"python": "#", "sql": "--"}


class NotebookParseError(ValueError):
    """The notebook file cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class Cell:
    """One cell. ``kind`` is ``python``, ``sql``, ``markdown`` or a magic name
    (``run``, ``fs``, ``sh``, ``pip``, ...); ``source`` is the body without the magic
    line; ``line`` is the 1-based line of the cell's first line in the file."""

    index: int
    kind: str
    source: str
    line: int
    title: str | None = None
    magic_args: str = ""
    raw: str = ""

    @property
    def first_line(self) -> str:
        """The cell's first non-blank line as written (for error messages)."""
        for ln in (self.raw or self.source).splitlines():
            if ln.strip():
                return ln.strip()
        return ""


@dataclass
class Notebook:
    """A parsed notebook: its file, default language and cells."""

    path: Path
    language: str
    cells: list[Cell] = field(default_factory=list)
    source_format: str = "SOURCE"


#: Databricks' cell-level magics (the cell's language or a command). Any other ``%name``
#: (``%pip``, ``%time``, ``%load_ext``, ...) is IPython syntax inside a Python cell.
#: ``%environment`` is not a command: it is how a source export carries the notebook's
#: serverless environment (``client``/``environment_version``, ``dependencies``).
CELL_MAGICS = frozenset({"md", "md-sandbox", "python", "sql", "sh", "fs", "run", "scala", "r", "conda",
                         "environment"})


def _classify(index: int, text: str, line: int, language: str, title: str | None, raw: str) -> Cell:
    stripped = text.strip("\n")
    first = stripped.lstrip().split("\n", 1)[0] if stripped.strip() else ""
    head = first.strip()
    m = _MAGIC_RE.match(head[1:] if head.startswith("%%") else head)
    if m and m.group("name").lower() not in CELL_MAGICS:
        # IPython syntax: a Python cell (a %magic in a SQL notebook is Python too).
        return Cell(index, "python", stripped, line, title, "", raw)
    if first.startswith("%%"):  # Jupyter cell magic: %%sql == %sql
        first = first[1:]
        stripped = stripped.lstrip()[1:]
    m = _MAGIC_RE.match(first.strip())
    if m:
        name = m.group("name").lower()
        body = stripped.lstrip().split("\n", 1)
        rest = body[1] if len(body) > 1 else ""
        if name in ("md", "md-sandbox"):
            return Cell(index, "markdown", rest, line, title, m.group("rest"), raw)
        if name in ("python", "sql"):
            src = (m.group("rest") + "\n" + rest).strip("\n") if m.group("rest") else rest
            return Cell(index, name, src, line, title, "", raw)
        return Cell(index, name, rest, line, title, m.group("rest").strip(), raw)
    return Cell(index, language, stripped, line, title, "", raw)


def _parse_source(path: Path, text: str, language: str) -> Notebook:
    c = _COMMENT[language]
    lines = text.splitlines()
    header = f"{c} Databricks notebook source"
    start = 1 if lines and lines[0].strip() == header else 0
    sep = re.compile(rf"^{re.escape(c)} COMMAND -+\s*$")
    magic_prefix = f"{c} MAGIC"
    title_re = re.compile(rf"^{re.escape(c)} DBTITLE \d+,(.*)$")
    chunks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    current_start = start + 1
    for i in range(start, len(lines)):
        if sep.match(lines[i]):
            chunks.append((current_start, current))
            current, current_start = [], i + 2
        else:
            current.append(lines[i])
    chunks.append((current_start, current))
    nb = Notebook(path=path, language=language)
    for first_line_no, chunk in chunks:
        while chunk and not chunk[0].strip():
            chunk, first_line_no = chunk[1:], first_line_no + 1
        while chunk and not chunk[-1].strip():
            chunk = chunk[:-1]
        if not chunk:
            continue
        title = None
        m = title_re.match(chunk[0])
        if m:
            title = m.group(1).strip()
            chunk, first_line_no = chunk[1:], first_line_no + 1
        raw = "\n".join(chunk)
        if all(ln.startswith(magic_prefix) or not ln.strip() for ln in chunk) and any(ln.strip() for ln in chunk):
            body = "\n".join(ln[len(magic_prefix) + 1:] if ln.startswith(magic_prefix + " ") else ln[len(magic_prefix):]
                             for ln in chunk)
        else:
            body = raw
        nb.cells.append(_classify(len(nb.cells) + 1, body, first_line_no, language, title, raw))
    return nb


def _parse_ipynb(path: Path, text: str) -> Notebook:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookParseError(f"{path}:{e.lineno}: invalid notebook JSON: {e.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookParseError(f"{path}: not a Jupyter notebook (no 'cells' list)")
    meta = data.get("metadata") or {}
    lang = ((meta.get("application/vnd.databricks.v1+notebook") or {}).get("language")
            or (meta.get("language_info") or {}).get("name") or (meta.get("kernelspec") or {}).get("language")
            or "python").lower()
    if lang not in ("python", "sql"):
        raise NotebookParseError(f"{path}: notebooks in {lang!r} are not supported (python or sql)")
    nb = Notebook(path=path, language=lang, source_format="JUPYTER")
    for i, raw_cell in enumerate(data["cells"], start=1):
        src = raw_cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        cell_meta = (raw_cell.get("metadata") or {}).get("application/vnd.databricks.v1+cell") or {}
        title = cell_meta.get("title") or None
        if raw_cell.get("cell_type") == "markdown":
            nb.cells.append(Cell(len(nb.cells) + 1, "markdown", src, i, title, "", src))
        elif raw_cell.get("cell_type") == "code":
            if src.strip():
                nb.cells.append(_classify(len(nb.cells) + 1, src, i, lang, title, src))
    return nb


def parse_notebook(path: Path) -> Notebook:
    """Parse the notebook at ``path`` (``.py``, ``.sql`` or ``.ipynb``).

    For ``.ipynb`` files, ``Cell.line`` is the cell's position in the file (1-based).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise NotebookParseError(f"{path}: cannot read notebook: {e.strerror or e}") from None
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        return _parse_ipynb(path, text)
    first = text.split("\n", 1)[0].strip()
    if suffix == ".sql" or first == "-- Databricks notebook source":
        if first != "-- Databricks notebook source":
            raise NotebookParseError(f"{path}:1: a SQL notebook must start with '-- Databricks notebook source'")
        return _parse_source(path, text, "sql")
    if suffix in (".scala", ".r") or first in ("// Databricks notebook source",):
        raise NotebookParseError(f"{path}: only Python and SQL notebooks are supported")
    return _parse_source(path, text, "python")


def environment_dependencies(nb: Notebook) -> list[str]:
    """The pip requirement lines of the notebook's ``%environment`` cell (Databricks' source
    export of its serverless environment: ``"client": "1"``, ``"dependencies": [...]``, one
    YAML mapping); empty without one. Errors name the file and the cell's line."""
    import yaml

    deps: list[str] = []
    for cell in nb.cells:
        if cell.kind != "environment":
            continue
        where = f"{nb.path}:{cell.line}: cell {cell.index} (%environment)"
        try:
            spec = yaml.safe_load(cell.source) if cell.source.strip() else {}
        except yaml.YAMLError as e:
            raise NotebookParseError(f"{where}: not a YAML mapping: {str(e).splitlines()[0]}") from None
        if not isinstance(spec, dict):
            raise NotebookParseError(f"{where}: not a YAML mapping of environment settings")
        listed = spec.get("dependencies") or []
        if not isinstance(listed, list) or not all(isinstance(d, str) for d in listed):
            raise NotebookParseError(f"{where}: field 'dependencies' must be a list of pip requirement strings")
        deps += [d for d in listed if d.strip()]
    return deps


_RUN_ARG = re.compile(r"""\$(?P<k>[\w.\-]+)\s*=\s*(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>(?:[^'\\]|\\.)*)'|(?P<bare>\S+))""")


def parse_run_args(args: str) -> tuple[str, dict[str, str]]:
    """Split ``%run ./path $a="1" $b=2`` arguments into the path and widget values."""
    args = args.strip()
    if not args:
        raise ValueError("%run needs a notebook path")
    if args[0] in "\"'":
        end = args.find(args[0], 1)
        if end < 0:
            raise ValueError(f"%run: unterminated quoted path in {args!r}")
        path, rest = args[1:end], args[end + 1:]
    else:
        path, _, rest = args.partition(" ")
    values: dict[str, str] = {}
    for m in _RUN_ARG.finditer(rest):
        val = m.group("dq") if m.group("dq") is not None else m.group("sq") if m.group("sq") is not None else m.group("bare")
        values[m.group("k")] = val
    return path, values
