"""The AI/BI (Lakeview) ``.lvdash.json`` format as lakeloom reads it.

A dashboard file is kept as Databricks writes it; these classes are a typed view of the
parts lakeloom computes and draws. Parsing never fails on fields lakeloom ignores
(``uiSettings``, column formats, ...): only :mod:`.validate` judges a file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIX = ".lvdash.json"
GRID_COLUMNS = 6
#: The column Databricks' associative filters count; it exists only in Databricks' engine.
ASSOCIATIVITY_COLUMN = "associative_filter_predicate_group"
FILTER_PREFIX = "filter-"


class DashboardFileError(ValueError):
    """The file is not JSON, or not a JSON object; the message names the file."""

    def __init__(self, message: str, detail: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message
        self.line = line


@dataclass(frozen=True)
class Parameter:
    """A dataset parameter: ``:keyword`` in the SQL, ``:keyword.min``/``.max`` for ranges."""

    keyword: str
    data_type: str
    default: Any
    is_range: bool = False


@dataclass(frozen=True)
class Dataset:
    name: str
    display_name: str
    query: str
    parameters: tuple[Parameter, ...] = ()
    catalog: str | None = None
    schema: str | None = None


@dataclass(frozen=True)
class Field:
    name: str
    expression: str


@dataclass(frozen=True)
class WidgetQuery:
    """One entry of a widget's ``queries[]``: fields computed over one dataset."""

    name: str
    dataset: str
    fields: tuple[Field, ...]
    disaggregated: bool
    parameter_keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Widget:
    name: str
    widget_type: str  # "text" for textbox_spec / multilineTextboxSpec widgets
    queries: tuple[WidgetQuery, ...]
    spec: dict[str, Any]
    text: str = ""

    @property
    def is_filter(self) -> bool:
        return self.widget_type.startswith(FILTER_PREFIX)

    @property
    def title(self) -> str:
        frame = self.spec.get("frame") or {}
        return str(frame.get("title") or "") if frame.get("showTitle", True) else ""


@dataclass(frozen=True)
class Position:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Placed:
    widget: Widget
    position: Position


@dataclass(frozen=True)
class Page:
    name: str
    display_name: str
    page_type: str
    layout: tuple[Placed, ...]


@dataclass
class Dashboard:
    """A parsed ``.lvdash.json``; ``raw`` is the file's JSON, untouched."""

    key: str
    source: Path | None
    raw: dict[str, Any]
    datasets: dict[str, Dataset] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)
    display_name: str = ""

    def widgets(self) -> list[Widget]:
        return [placed.widget for page in self.pages for placed in page.layout]


def key_for(path: Path) -> str:
    """The dashboard key of a workspace file: its name without ``.lvdash.json``."""
    name = path.name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else path.stem


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DashboardFileError(f"{path}: cannot read: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise DashboardFileError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}",
                                 f"column {e.colno}: not valid JSON: {e.msg}", e.lineno) from None
    if not isinstance(data, dict):
        raise DashboardFileError(f"{path}: a dashboard is a JSON object with datasets and pages")
    return data


def load(path: Path, key: str | None = None, display_name: str | None = None) -> Dashboard:
    """Read and parse one dashboard file (raises :class:`DashboardFileError` on bad JSON)."""
    return parse(read_json(path), key or key_for(path), path, display_name)


def parse(raw: dict[str, Any], key: str, source: Path | None = None, display_name: str | None = None) -> Dashboard:
    dash = Dashboard(key=key, source=source, raw=raw, display_name=display_name or key)
    for item in _list(raw.get("datasets")):
        if isinstance(item, dict) and item.get("name"):
            ds = _dataset(item)
            dash.datasets[ds.name] = ds
    for page in _list(raw.get("pages")):
        if isinstance(page, dict):
            dash.pages.append(_page(page))
    return dash


def query_text(item: dict[str, Any]) -> str:
    """A dataset's SQL: ``query`` or the joined ``queryLines`` (each keeps its own newline)."""
    if isinstance(item.get("queryLines"), list):
        return "".join(str(line) for line in item["queryLines"])
    return str(item.get("query") or "")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dataset(item: dict[str, Any]) -> Dataset:
    params = tuple(_parameter(p) for p in _list(item.get("parameters")) if isinstance(p, dict) and p.get("keyword"))
    return Dataset(name=str(item["name"]), display_name=str(item.get("displayName") or item["name"]),
                   query=query_text(item), parameters=params, catalog=item.get("catalog"), schema=item.get("schema"))


def _parameter(p: dict[str, Any]) -> Parameter:
    selection = p.get("defaultSelection") or {}
    data_type = str(p.get("dataType") or "STRING")
    if p.get("complexType") == "RANGE" or "range" in selection:
        rng = selection.get("range") or {}
        return Parameter(p["keyword"], data_type,
                         ((rng.get("min") or {}).get("value"), (rng.get("max") or {}).get("value")), True)
    values = [v.get("value") for v in _list((selection.get("values") or {}).get("values")) if isinstance(v, dict)]
    default: Any = values if p.get("complexType") == "MULTI" else (values[0] if values else None)
    return Parameter(str(p["keyword"]), data_type, default)


def _page(page: dict[str, Any]) -> Page:
    placed = []
    for item in _list(page.get("layout")):
        if isinstance(item, dict) and isinstance(item.get("widget"), dict):
            pos = item.get("position") or {}
            placed.append(Placed(_widget(item["widget"]), Position(*(_int(pos.get(k)) for k in
                                                                     ("x", "y", "width", "height")))))
    return Page(str(page.get("name") or ""), str(page.get("displayName") or page.get("name") or ""),
                str(page.get("pageType") or "PAGE_TYPE_CANVAS"), tuple(placed))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _widget(w: dict[str, Any]) -> Widget:
    name = str(w.get("name") or "")
    if w.get("textbox_spec") is not None or w.get("multilineTextboxSpec") is not None:
        lines = (w.get("multilineTextboxSpec") or {}).get("lines")
        text = "".join(str(x) for x in lines) if isinstance(lines, list) else str(w.get("textbox_spec") or "")
        return Widget(name, "text", (), {}, text)
    spec = w.get("spec") if isinstance(w.get("spec"), dict) else {}
    queries = tuple(_query(q) for q in _list(w.get("queries")) if isinstance(q, dict)
                    and isinstance(q.get("query"), dict))
    return Widget(name, str(spec.get("widgetType") or "unknown"), queries, spec)


def _query(q: dict[str, Any]) -> WidgetQuery:
    body = q["query"]
    fields = tuple(Field(str(f.get("name") or ""), str(f.get("expression") or ""))
                   for f in _list(body.get("fields")) if isinstance(f, dict))
    keywords = tuple(str(p.get("keyword")) for p in _list(body.get("parameters")) if isinstance(p, dict))
    return WidgetQuery(str(q.get("name") or ""), str(body.get("datasetName") or ""), fields,
                       bool(body.get("disaggregated")), keywords)


def encoded_fields(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``fieldName`` the spec's encodings name, with the JSON path below ``encodings``."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("fieldName"), str):
                found.append((path, node["fieldName"]))
            for k, v in node.items():
                if isinstance(v, (dict, list)):
                    walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(spec.get("encodings") or {}, "encodings")
    return found
