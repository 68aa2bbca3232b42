"""Task outputs for the run page: the executed notebook (cells, text, sanitized HTML,
images, errors), SQL result tables, pipeline updates, and attempt logs (tail, search).

Markdown and HTML produced by notebooks is passed through the ``nh3`` sanitizer (an
allow-list: no scripts, no event-handler attributes, no ``javascript:`` URLs) before it is
marked safe; everything else is plain text that the templates escape. Files are read only
from inside the workspace's logs folder.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

MAX_TEXT = 200_000  # characters of one notebook output shown
MAX_NOTEBOOK_BYTES = 20_000_000
LOG_TAIL_BYTES = 256_000  # what the log viewer shows at first (the end of the log)
LOG_CHUNK_BYTES = 256_000  # at most this much per live-tail poll
MAX_SEARCH_HITS = 2_000

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def sanitize_html(html: str) -> Markup:
    """Allow-list sanitized HTML (display tables, markdown)."""
    import nh3

    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow",  # noqa: S704 - sanitized
                            url_schemes=set(nh3.ALLOWED_URL_SCHEMES) | {"data"},
                            attribute_filter=_only_inline_images))


def _only_inline_images(tag: str, attr: str, value: str) -> str | None:
    """Images only from ``data:`` URLs: a notebook output must not make the browser fetch anything."""
    if tag == "img" and attr == "src":
        return value if value.startswith("data:image/") else None
    if value.lower().lstrip().startswith("data:"):
        return None
    return value


def markdown_html(text: str) -> Markup:
    """Markdown rendered without raw HTML, then sanitized."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    return sanitize_html(md.render(text))


def _text(value: Any) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    text = strip_ansi(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n… ({len(text) - MAX_TEXT} more characters)"


@dataclass
class CellOutput:
    kind: str  # "stream", "stderr", "text", "html", "image", "error"
    text: str = ""
    html: Markup | None = None
    image: str | None = None  # data: URL
    ename: str = ""


@dataclass
class CellView:
    kind: str  # "markdown" or "code"
    source: str
    html: Markup | None = None
    outputs: list[CellOutput] = field(default_factory=list)
    execution_count: int | None = None
    status: str = ""
    duration_ms: float | None = None
    title: str = ""


def _output(o: dict[str, Any]) -> CellOutput | None:
    kind = o.get("output_type")
    if kind == "stream":
        return CellOutput("stderr" if o.get("name") == "stderr" else "stream", _text(o.get("text", "")))
    if kind == "error":
        tb = _text(o.get("traceback") and "\n".join(o["traceback"]) or "")
        return CellOutput("error", tb or f"{o.get('ename', '')}: {o.get('evalue', '')}", ename=str(o.get("ename", "")))
    if kind in ("display_data", "execute_result"):
        data = o.get("data") or {}
        if "text/html" in data:
            return CellOutput("html", html=sanitize_html(_text(data["text/html"])))
        for mime in ("image/png", "image/jpeg"):
            raw = data.get(mime)
            if isinstance(raw, str) and _BASE64.match(raw):
                return CellOutput("image", image=f"data:{mime};base64,{''.join(raw.split())}")
        if "text/markdown" in data:
            return CellOutput("html", html=markdown_html(_text(data["text/markdown"])))
        if "text/plain" in data:
            return CellOutput("text", _text(data["text/plain"]))
    return None


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def workspace_file(stored: str, logs_root: Path) -> Path:
    """A path recorded in the store, in the workspace whose logs folder is ``logs_root``."""
    from lakeloom.config import Workspace

    return Workspace(root=logs_root.parent.parent).resolve_stored(stored)


def render_notebook(path: Path, logs_root: Path) -> tuple[list[CellView], dict[str, Any]] | None:
    """The cells and lakeloom metadata of an executed ``.ipynb``; None if absent or unreadable."""
    if not inside(path, logs_root) or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cells = []
    for c in doc.get("cells", []):
        source = _text(c.get("source", ""))
        meta = (c.get("metadata") or {}).get("lakeloom") or {}
        title = str((c.get("metadata") or {}).get("title") or "")
        if c.get("cell_type") == "markdown":
            cells.append(CellView("markdown", source, html=markdown_html(source), title=title))
            continue
        outs = [v for v in (_output(o) for o in c.get("outputs") or []) if v is not None]
        cells.append(CellView("code", source, outputs=outs, execution_count=c.get("execution_count"),
                              status=str(meta.get("status", "")), duration_ms=meta.get("duration_ms"), title=title))
    return cells, (doc.get("metadata") or {}).get("lakeloom") or {}


def sql_table(output: dict[str, Any]) -> dict[str, Any] | None:
    """Columns and rows of a SQL task's ``sql_output``."""
    sql = output.get("sql_output")
    if not isinstance(sql, dict):
        return None
    schema = sql.get("schema") or []
    cols = [c.get("name", "") for c in schema] or list((sql.get("rows") or [{}])[0].keys())
    rows = [[_cell(r.get(c)) for c in cols] for r in sql.get("rows") or [] if isinstance(r, dict)]
    return {"columns": cols, "types": [c.get("type", "") for c in schema], "rows": rows,
            "row_count": sql.get("row_count", len(rows)), "truncated": bool(sql.get("truncated")),
            "alert_state": sql.get("alert_state")}


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    return v if isinstance(v, str) else json.dumps(v, default=str)


def pipeline_view(output: dict[str, Any]) -> dict[str, Any] | None:
    """A pipeline update's datasets, expectation metrics and (if recorded) event log."""
    p = output.get("pipeline_output")
    if not isinstance(p, dict):
        return None
    datasets = []
    for name, d in (p.get("datasets") or {}).items():
        checks = [_with_dropped(e) for e in d.get("expectations") or [] if isinstance(e, dict)]
        datasets.append({"name": name, **{k: d.get(k) for k in ("kind", "status", "rows_written", "error")},
                         "inputs": d.get("inputs") or [], "expectations": checks,
                         "dropped_records": sum(e["dropped_records"] for e in checks)})
    events = p.get("events") or p.get("event_log") or []
    return {"pipeline": p.get("pipeline"), "update_id": p.get("update_id"), "state": p.get("state"),
            "error": p.get("error"), "seconds": p.get("duration_seconds"), "datasets": datasets,
            "events": [e for e in events if isinstance(e, dict)][:2000]}


def _with_dropped(e: dict[str, Any]) -> dict[str, Any]:
    """An expectation row with ``dropped_records``: the rows a ``drop`` expectation removed."""
    dropped = int(e.get("failed_records") or 0) if str(e.get("action", "")).lower() == "drop" else 0
    return {**e, "dropped_records": dropped}


def ml_view(output: dict[str, Any]) -> dict[str, Any] | None:
    """An ML task's MLflow run (metrics, params), registered version and promotion."""
    m = output.get("ml_output")
    if not isinstance(m, dict):
        return None
    metrics = sorted((str(k), v) for k, v in (m.get("metrics") or {}).items())
    params = sorted((str(k), _cell(v)) for k, v in (m.get("params") or {}).items())
    return {**m, "metrics": metrics, "params": params}


def model_links(tasks: list[dict[str, Any]]) -> list[str]:
    """Registered models a job's ML tasks train or score with (for links to their pages)."""
    names: list[str] = []
    for t in tasks:
        name = (t.get("ml_training_task") or {}).get("registered_model")
        uri = str((t.get("model_inference_task") or {}).get("model") or "")
        if not name and uri.startswith("models:/") and not uri.startswith("models:/m-"):
            name = uri.removeprefix("models:/").split("@", 1)[0].split("/", 1)[0]
        if name and name not in names:
            names.append(str(name))
    return names


def quality_view(output: dict[str, Any]) -> dict[str, Any] | None:
    """A quality task's per-expectation results, each failing-row sample as a table."""
    q = output.get("quality_output")
    if not isinstance(q, dict):
        return None
    results = []
    for r in q.get("results") or []:
        if not isinstance(r, dict):
            continue
        rows = [x for x in r.get("failed_rows") or [] if isinstance(x, dict)]
        cols = list(dict.fromkeys(k for x in rows for k in x))
        results.append({**r, "observed": "" if r.get("observed_value") is None else _cell(r["observed_value"]),
                        "arguments": ", ".join(f"{k}={_cell(v)}" for k, v in (r.get("arguments") or {}).items()),
                        "sample": {"columns": cols, "rows": [[_cell(x.get(c)) for c in cols] for x in rows]}})
    return {**{k: q.get(k) for k in ("dataset", "suite", "status", "results_table", "gx_version",
                                     "duration_seconds")}, "statistics": q.get("statistics") or {},
            "results": results}


# --- logs -------------------------------------------------------------------------------


@dataclass
class LogView:
    exists: bool
    size: int = 0
    text: str = ""
    start: int = 0  # byte offset of ``text`` in the file
    hits: list[tuple[int, list[tuple[str, bool]]]] = field(default_factory=list)  # (line no, segments)
    hit_count: int = 0


def log_file(row: dict[str, Any], logs_root: Path) -> Path | None:
    """An attempt's log file: the recorded path, or (while the attempt runs, before it is
    recorded) where the engine writes it: ``<logs>/<run>/<task>[/iteration-<i>]/<attempt>.log``."""
    if row.get("log_path"):
        p = workspace_file(row["log_path"], logs_root)
    else:
        p = logs_root / str(row["run_id"]) / row["task_key"]
        if row.get("iteration") is not None:
            p = p / f"iteration-{row['iteration']}"
        p = p / f"{row['attempt_number']}.log"
    return p if inside(p, logs_root) else None


def read_log(path: Path | None, *, query: str | None = None) -> LogView:
    """The end of a log (or, with ``query``, its matching lines, case-insensitive)."""
    if path is None or not path.is_file():
        return LogView(False)
    size = path.stat().st_size
    if query:
        hits: list[tuple[int, list[tuple[str, bool]]]] = []
        count = 0
        needle = query.lower()
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, 1):
                if needle in line.lower():
                    count += 1
                    if len(hits) < MAX_SEARCH_HITS:
                        hits.append((no, _segments(strip_ansi(line.rstrip("\n")), needle)))
        return LogView(True, size, hits=hits, hit_count=count)
    start = max(0, size - LOG_TAIL_BYTES)
    with path.open("rb") as f:
        f.seek(start)
        data = f.read(size - start)
    if start:
        nl = data.find(b"\n")
        data, start = (data[nl + 1:], start + nl + 1) if nl >= 0 else (data, start)
    return LogView(True, size, strip_ansi(data.decode("utf-8", errors="replace")), start)


def _segments(line: str, needle: str) -> list[tuple[str, bool]]:
    out, low, i = [], line.lower(), 0
    while True:
        j = low.find(needle, i)
        if j < 0:
            out.append((line[i:], False))
            return out
        out.extend([(line[i:j], False), (line[j:j + len(needle)], True)])
        i = j + len(needle)


def log_chunk(path: Path | None, offset: int) -> tuple[str, int]:
    """Bytes ``offset``.. of a log (at most one chunk, ending on a line break when possible)."""
    if path is None or not path.is_file():
        return "", offset
    size = path.stat().st_size
    if offset > size:
        offset = 0  # the file was replaced: start again
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(min(LOG_CHUNK_BYTES, size - offset))
    if len(data) == LOG_CHUNK_BYTES and b"\n" in data:
        data = data[: data.rfind(b"\n") + 1]
    return strip_ansi(data.decode("utf-8", errors="replace")), offset + len(data)
