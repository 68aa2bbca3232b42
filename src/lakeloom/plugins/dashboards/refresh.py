"""Refresh: run every dataset on the shared Spark session, compute every widget from it.

Each dataset runs once as a temporary view (its parameters bound by Spark); each widget
query is then one ``SELECT ... FROM <view> GROUP BY ...``. A dataset that fails marks
its widgets failed and the refresh goes on with the others; the caller decides whether
the task fails (it does, naming the datasets).
"""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from lakeloom.plugins.dashboards.model import ASSOCIATIVITY_COLUMN, Dashboard, Widget
from lakeloom.plugins.dashboards.parameters import bind, defaults
from lakeloom.plugins.dashboards.widget_sql import FILTER_COLUMN_PREFIX, ExpressionError, WidgetSql, build, quote

#: Rows kept per widget in a snapshot (a table widget over a big dataset is cut here).
DEFAULT_ROW_CAP = 1000
SNAPSHOT_FORMAT = 1


@dataclass
class RefreshResult:
    snapshot: dict[str, Any]
    failed_datasets: dict[str, str] = field(default_factory=dict)
    failed_widgets: dict[str, str] = field(default_factory=dict)


def filter_targets(dash: Dashboard) -> dict[str, list[str]]:
    """Dataset → the columns filter widgets filter it on (from the filters' field queries)."""
    targets: dict[str, list[str]] = {}
    for widget in dash.widgets():
        if not widget.is_filter:
            continue
        for q in widget.queries:
            for f in q.fields:
                if ASSOCIATIVITY_COLUMN in f.expression:
                    continue
                column = f.expression.strip().strip("`") if f.expression.strip().startswith("`") else f.name
                if column not in targets.setdefault(q.dataset, []):
                    targets[q.dataset].append(column)
    return targets


def jsonable(value: Any) -> Any:
    """Numbers stay numbers (decimals too, charts need them); times become ISO text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "asDict"):
        return jsonable(value.asDict())
    return str(value)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:2000]


@dataclass(frozen=True)
class DatasetDefaults:
    """Where a dataset's unqualified table names resolve: the bundle resource's
    ``dataset_catalog``/``dataset_schema`` override each dataset's own ``catalog``/``schema``
    (as Databricks does); neither set means the workspace's default catalog and schema."""

    catalog: str | None = None
    schema: str | None = None

    @classmethod
    def of(cls, settings: Mapping[str, Any] | None) -> DatasetDefaults:
        settings = settings or {}
        return cls(settings.get("dataset_catalog") or None, settings.get("dataset_schema") or None)


def refresh(spark: Any, dash: Dashboard, *, run_id: int | None = None, task_key: str | None = None,
            parameters: Mapping[str, Any] | None = None, row_cap: int = DEFAULT_ROW_CAP,
            overrides: DatasetDefaults | None = None,
            filters: Mapping[str, Mapping[str, Any]] | None = None) -> RefreshResult:
    """Compute every widget of ``dash`` on ``spark``; never raises for a bad dataset or widget.

    Datasets run in a child session (``newSession()``: same catalogs and tables, its own
    current catalog/schema and temporary views), so a dataset's ``catalog``/``schema`` never
    moves the current schema of tasks running beside it. ``filters`` (column →
    ``{"values": [...]}`` or ``{"min": a, "max": b}``) narrow every dataset that has the
    column, as a filter widget does on Databricks; they are used for live queries from the
    web dashboard and are recorded in the snapshot.
    """
    started = dt.datetime.now(dt.timezone.utc)
    views: dict[str, str] = {}
    datasets: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    token = uuid.uuid4().hex[:12]
    overrides = overrides or DatasetDefaults()
    session = spark.newSession()
    home = (session.catalog.currentCatalog(), session.catalog.currentDatabase())
    spark = session
    try:
        for ds in dash.datasets.values():
            view = f"__lakeloom_dash_{token}_{len(views)}"
            used: dict[str, Any] = {}
            try:
                used = defaults(ds)
                _use(session, home, overrides.catalog or ds.catalog, overrides.schema or ds.schema)
                sql, args = bind(ds, parameters)
                used = args
                df = spark.sql(sql, args=args) if args else spark.sql(sql)
                df = _filtered(df, filters)
                df.createOrReplaceTempView(view)
                views[ds.name] = view
                datasets[ds.name] = {"columns": df.columns, "error": None, "parameters": jsonable(used)}
            except Exception as e:  # Spark raises several unrelated types; each is this dataset's failure
                failed[ds.name] = _first_line(e)
                datasets[ds.name] = {"columns": [], "error": failed[ds.name], "parameters": jsonable(used)}
        widgets, widget_errors = _compute_widgets(spark, dash, views, failed, row_cap)
    finally:
        for view in views.values():
            spark.catalog.dropTempView(view)
    finished = dt.datetime.now(dt.timezone.utc)
    snapshot = {"format": SNAPSHOT_FORMAT, "dashboard": dash.key, "display_name": dash.display_name,
                "source": str(dash.source) if dash.source else None, "run_id": run_id, "task_key": task_key,
                "refreshed_at": finished.isoformat(timespec="seconds"),
                "duration_ms": int((finished - started).total_seconds() * 1000), "row_cap": row_cap,
                "datasets": datasets, "widgets": widgets, "definition": dash.raw}
    if filters:
        snapshot["filters"] = jsonable(dict(filters))
    return RefreshResult(snapshot, failed, widget_errors)


def _use(session: Any, home: tuple[str, str], catalog: str | None, schema: str | None) -> None:
    """Make ``catalog``/``schema`` current in the refresh's own session (home ones otherwise)."""
    session.catalog.setCurrentCatalog(catalog or home[0])
    session.catalog.setCurrentDatabase(schema or (home[1] if not catalog or catalog == home[0] else "default"))


def _filtered(df: Any, filters: Mapping[str, Mapping[str, Any]] | None) -> Any:
    """``df`` narrowed by every filter whose column it has (others do not apply to it)."""
    if not filters:
        return df
    from pyspark.sql import functions as F

    columns = {c.lower(): c for c in df.columns}
    for column, sel in filters.items():
        name = columns.get(str(column).lower())
        if name is None or not isinstance(sel, Mapping):
            continue
        col = F.col(f"`{name}`")
        values = sel.get("values")
        if isinstance(values, list) and values:
            df = df.filter(col.cast("string").isin([str(v) for v in values]))
        if sel.get("min") not in (None, ""):
            df = df.filter(col >= F.lit(sel["min"]).cast(df.schema[name].dataType))
        if sel.get("max") not in (None, ""):
            df = df.filter(col <= F.lit(sel["max"]).cast(df.schema[name].dataType))
    return df


def _compute_widgets(spark: Any, dash: Dashboard, views: dict[str, str], failed: dict[str, str],
                     row_cap: int) -> tuple[dict[str, Any], dict[str, str]]:
    targets = filter_targets(dash)
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for widget in dash.widgets():
        results = []
        for q in widget.queries:
            if not q.fields:
                continue  # a parameter filter's query: it names parameters, computes nothing
            if q.dataset in failed or q.dataset not in views:
                reason = failed.get(q.dataset, "the dashboard has no such dataset")
                results.append({"name": q.name, "dataset": q.dataset, "error": f"dataset {q.dataset!r} failed: {reason}"})
                continue
            results.append(_run_query(spark, widget, q, views[q.dataset], targets.get(q.dataset, []), row_cap))
        bad = [r["error"] for r in results if r.get("error")]
        if bad:
            errors[widget.name] = bad[0]
        out[widget.name] = {"type": widget.widget_type, "queries": results, "error": bad[0] if bad else None}
    return out, errors


def _run_query(spark: Any, widget: Widget, q: Any, view: str, filters: list[str], row_cap: int) -> dict[str, Any]:
    base = {"name": q.name, "dataset": q.dataset}
    try:
        if widget.is_filter:
            fields = [f for f in q.fields if ASSOCIATIVITY_COLUMN not in f.expression]
            select = ", ".join(f"{f.expression} AS {quote(f.name)}" for f in fields)
            sql = f"SELECT DISTINCT {select} FROM {view} ORDER BY 1 LIMIT {row_cap + 1}"
            meta: dict[str, Any] = {"columns": [f.name for f in fields], "filter_columns": {}, "rollups": {},
                                    "count_columns": {}, "aggregated": False}
            rows = spark.sql(sql).collect()
        else:
            built = build(q, view, filters, row_cap + 1)
            rows = spark.sql(built.sql).collect()
            cut_by_filters = False
            if len(rows) > row_cap and built.aggregated and _adds_filter_groups(built):
                # Grouping by the filter columns split the aggregates into more groups than the
                # snapshot keeps: summing what is left would show a wrong total (a counter of
                # 1,000 instead of 20,000). Keep the exact unfiltered aggregates instead; a
                # filter on the dropped columns then needs the live session.
                cut_by_filters = True
                built = build(q, view, [n for n, c in built.filter_columns.items()
                                        if not c.startswith(FILTER_COLUMN_PREFIX)], row_cap + 1)
                rows = spark.sql(built.sql).collect()
            sql = built.sql
            meta = {"columns": built.columns, "filter_columns": built.filter_columns, "rollups": built.rollups,
                    "count_columns": built.count_columns, "aggregated": built.aggregated}
            if cut_by_filters:
                meta["filter_groups_cut"] = True
    except ExpressionError as e:
        return {**base, "error": f"widget {widget.name!r}: expression does not parse: {e}"}
    except Exception as e:  # an expression Spark rejects fails this widget only
        return {**base, "error": f"widget {widget.name!r}: {_first_line(e)}"}
    return {**base, **meta, "sql": sql, "truncated": len(rows) > row_cap,
            "rows": [[jsonable(v) for v in row] for row in rows[:row_cap]], "error": None}


def _adds_filter_groups(built: WidgetSql) -> bool:
    """Whether the statement groups by columns only filter widgets asked for."""
    return any(c.startswith(FILTER_COLUMN_PREFIX) for c in built.filter_columns.values())
