"""Static checks of a ``.lvdash.json`` file: no Spark, no JVM.

Each problem is a :class:`~lakeloom.spec.loader.SpecError` whose ``field`` is the JSON
path (``pages[0].layout[2].widget.queries[0].query.datasetName``), so ``lakeloom
validate`` prints it like a job-file problem.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lakeloom.plugins.dashboards.model import (
    ASSOCIATIVITY_COLUMN, GRID_COLUMNS, DashboardFileError, encoded_fields, read_json)
from lakeloom.plugins.dashboards.parameters import ParameterError, bind
from lakeloom.plugins.dashboards.widget_sql import ExpressionError, _parse
from lakeloom.spec.loader import SpecError


def validate_dashboard_file(path: Path) -> list[SpecError]:
    """Every problem in one dashboard file (an empty list when it is fine)."""
    try:
        raw = read_json(path)
    except DashboardFileError as e:
        return [SpecError(str(path), e.line, e.detail)]
    return validate_dashboard(raw, str(path))


def validate_dashboard(raw: dict[str, Any], source: str) -> list[SpecError]:
    from lakeloom.plugins.dashboards.model import parse

    problems: list[SpecError] = []

    def err(path: str, message: str) -> None:
        problems.append(SpecError(source, None, message, field=path))

    if not isinstance(raw.get("datasets", []), list):
        err("datasets", "must be a list")
    if not isinstance(raw.get("pages"), list):
        err("pages", "missing: a dashboard needs a list of pages")
    dash = parse(raw, "check")
    columns: dict[str, set[str] | None] = {}
    for i, item in enumerate(raw.get("datasets") or []):
        where = f"datasets[{i}]"
        if not isinstance(item, dict) or not item.get("name"):
            err(where, "a dataset needs a name")
            continue
        if not item.get("query") and not item.get("queryLines"):
            err(f"{where}.query", f"dataset {item['name']!r} has no query (query or queryLines)")
            continue
        ds = dash.datasets[str(item["name"])]
        try:
            sql = ds.query and bind(ds)[0]
        except ParameterError as e:
            err(f"{where}.parameters", f"dataset {ds.name!r}: a parameter's default value: {e}")
            columns[ds.name] = None  # its columns are unknown; widgets on it are still checked
            continue
        columns[ds.name] = _output_columns(sql, err, f"{where}.query", ds.name)
    for p, page in enumerate(raw.get("pages") or []):
        for j, item in enumerate((page or {}).get("layout") or [] if isinstance(page, dict) else []):
            _check_widget(item, f"pages[{p}].layout[{j}]", columns, err, _grid_columns(page))
    return problems


def _output_columns(sql: str, err: Any, path: str, name: str) -> set[str] | None:
    """The dataset's column names when sqlglot can tell (no ``*``), else None."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(sql, dialect="databricks")
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        at = f" (line {first.get('line')}, column {first.get('col')})" if first.get("line") else ""
        err(path, f"dataset {name!r}: SQL does not parse{at}: {first.get('description') or str(e).splitlines()[0]}")
        return None
    if not isinstance(tree, exp.Query) or any(isinstance(s, exp.Star) or s.is_star for s in tree.selects):
        return None
    names = {s.alias_or_name for s in tree.selects}
    # An unaliased expression (``any_value(x)``, ``sum(a * b)``) gets a name Spark makes up from
    # the expression text, which sqlglot does not reproduce: the columns are then unknown.
    return None if "" in names else names


def _grid_columns(page: dict[str, Any]) -> int:
    """Lakeview's canvas is 6 columns wide; pages saved with ``layoutVersion: GRID_V1`` (the
    newer editor) lay widgets out on 12."""
    return 12 if page.get("layoutVersion") == "GRID_V1" else GRID_COLUMNS


def _check_widget(item: Any, where: str, columns: dict[str, set[str] | None], err: Any,
                  grid: int = GRID_COLUMNS) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("widget"), dict):
        err(f"{where}.widget", "a layout item needs a widget")
        return
    pos = item.get("position")
    if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in ("x", "y", "width", "height")):
        err(f"{where}.position", "needs integer x, y, width and height")
    elif pos["x"] < 0 or pos["width"] < 1 or pos["x"] + pos["width"] > grid:
        err(f"{where}.position", f"x={pos['x']} width={pos['width']} leaves the {grid}-column grid")
    widget = item["widget"]
    wpath = f"{where}.widget"
    names: set[str] = set()
    for k, q in enumerate(widget.get("queries") or []):
        body = q.get("query") if isinstance(q, dict) else None
        if not isinstance(body, dict):
            err(f"{wpath}.queries[{k}].query", "missing")
            continue
        qpath = f"{wpath}.queries[{k}].query"
        dataset = body.get("datasetName")
        names.update(str(f.get("name") or "") for f in body.get("fields") or [] if isinstance(f, dict))
        if dataset not in columns:
            err(f"{qpath}.datasetName", f"widget {widget.get('name')!r} names dataset {dataset!r}, which the "
                                        f"dashboard does not define (datasets: {', '.join(sorted(columns)) or 'none'})")
            continue
        for n, f in enumerate(body.get("fields") or []):
            expression = str(f.get("expression") or "")
            if ASSOCIATIVITY_COLUMN in expression:
                continue
            _check_expression(expression, columns[dataset], f"{qpath}.fields[{n}].expression", dataset, err)
    if widget.get("queries") and isinstance(widget.get("spec"), dict):
        for path, name in encoded_fields(widget["spec"]):
            if name not in names:
                err(f"{wpath}.spec.{path}.fieldName", f"widget {widget.get('name')!r} draws field {name!r}, which "
                                                     f"none of its queries computes ({', '.join(sorted(names))})")


def _check_expression(expression: str, known: set[str] | None, path: str, dataset: str, err: Any) -> None:
    from sqlglot import exp

    try:
        tree = _parse(expression)
    except ExpressionError as e:
        err(path, f"expression {expression!r} does not parse: {e}")
        return
    if known is None:
        return
    for column in tree.find_all(exp.Column):
        if column.name != "*" and column.name not in known:
            err(path, f"expression {expression!r} reads column {column.name!r}, which dataset {dataset!r} "
                      f"does not return ({', '.join(sorted(known))})")
