"""A hand-written ``.lvdash.json`` with every widget type lakeloom draws, over
``main.dash_sales.orders`` (order_date, region, category, amount, qty)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TABLE = "main.dash_sales.orders"
REGIONS = ("north", "south", "east")


def create_orders(spark: Any, days: int = 10) -> None:
    """``days`` days x 3 regions x 2 categories; amount = day + region index, qty = 1..3."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.dash_sales")
    rows = [(f"2026-01-{d + 1:02d}", region, cat, f"{d + r + 0.5:.2f}", (d + r) % 3 + 1)
            for d in range(days) for r, region in enumerate(REGIONS) for cat in ("toys", "food")]
    values = ", ".join(f"(DATE'{d}', '{reg}', '{c}', {a}, {q})" for d, reg, c, a, q in rows)
    spark.sql(f"CREATE OR REPLACE TABLE {TABLE} (order_date DATE, region STRING, category STRING, "
              f"amount DECIMAL(10,2), qty INT) USING delta")
    spark.sql(f"INSERT INTO {TABLE} VALUES {values}")


def _q(dataset: str, fields: list[tuple[str, str]], disaggregated: bool = False) -> list[dict[str, Any]]:
    return [{"name": "main_query", "query": {"datasetName": dataset, "disaggregated": disaggregated,
                                             "fields": [{"name": n, "expression": e} for n, e in fields]}}]


def _w(name: str, wtype: str, queries: list[dict[str, Any]], encodings: dict[str, Any], title: str,
       x: int, y: int, width: int = 2, height: int = 4) -> dict[str, Any]:
    return {"widget": {"name": name, "queries": queries,
                       "spec": {"version": 3, "widgetType": wtype, "encodings": encodings,
                                "frame": {"showTitle": True, "title": title}}},
            "position": {"x": x, "y": y, "width": width, "height": height}}


def dashboard() -> dict[str, Any]:
    total, region, day = "sum(amount)", "region", "daily(order_date)"
    by_region = _q("orders", [(region, "`region`"), (total, "SUM(`amount`)")])
    layout = [
        {"widget": {"name": "intro", "multilineTextboxSpec": {"lines": ["# Sales\n", "Orders by **region**."]}},
         "position": {"x": 0, "y": 0, "width": 6, "height": 1}},
        _w("total", "counter", _q("orders", [(total, "SUM(`amount`)")]), {"value": {"fieldName": total}},
           "Revenue", 0, 1, 2, 2),
        _w("orders_n", "counter", _q("orders", [("count(*)", "COUNT(`*`)")]), {"value": {"fieldName": "count(*)"}},
           "Orders", 2, 1, 2, 2),
        _w("big_orders", "counter", _q("big", [("count(*)", "COUNT(`*`)")]), {"value": {"fieldName": "count(*)"}},
           "Orders with qty >= :min_qty", 4, 1, 2, 2),
        _w("by_region", "bar", by_region, {"x": {"fieldName": region, "scale": {"type": "categorical"}},
                                          "y": {"fieldName": total, "scale": {"type": "quantitative"}}},
           "Revenue by region", 0, 3),
        _w("daily", "line", _q("orders", [(day, 'DATE_TRUNC("DAY", `order_date`)'), (total, "SUM(`amount`)")]),
           {"x": {"fieldName": day, "scale": {"type": "temporal"}}, "y": {"fieldName": total,
                                                                         "scale": {"type": "quantitative"}}},
           "Daily revenue", 2, 3),
        _w("daily_area", "area", _q("orders", [(day, 'DATE_TRUNC("DAY", `order_date`)'), (region, "`region`"),
                                               (total, "SUM(`amount`)")]),
           {"x": {"fieldName": day, "scale": {"type": "temporal"}}, "y": {"fieldName": total},
            "color": {"fieldName": region, "scale": {"type": "categorical"}}}, "Daily revenue by region", 4, 3),
        _w("qty_amount", "scatter", _q("orders", [("qty", "`qty`"), ("amount", "`amount`")], True),
           {"x": {"fieldName": "qty", "scale": {"type": "quantitative"}},
            "y": {"fieldName": "amount", "scale": {"type": "quantitative"}}}, "Quantity vs amount", 0, 7),
        _w("share", "pie", _q("orders", [("count(*)", "COUNT(`*`)"), (region, "`region`")]),
           {"angle": {"fieldName": "count(*)"}, "color": {"fieldName": region}}, "Orders by region", 2, 7),
        _w("heat", "heatmap", _q("orders", [(region, "`region`"), ("category", "`category`"),
                                            (total, "SUM(`amount`)")]),
           {"x": {"fieldName": region}, "y": {"fieldName": "category"}, "color": {"fieldName": total}},
           "Region x category", 4, 7),
        _w("amounts", "histogram", _q("orders", [("amount", "`amount`")], True),
           {"x": {"fieldName": "amount", "scale": {"type": "quantitative"}}}, "Order amounts", 0, 11),
        _w("combo", "combo", _q("orders", [(region, "`region`"), (total, "SUM(`amount`)"),
                                           ("avg(qty)", "AVG(`qty`)")]),
           {"x": {"fieldName": region}, "y": {"primary": {"fields": [{"fieldName": total}]},
                                              "secondary": {"fields": [{"fieldName": "avg(qty)"}]}}},
           "Revenue and average quantity", 2, 11),
        _w("pivot", "pivot", _q("orders", [(region, "`region`"), ("category", "`category`"),
                                           (total, "SUM(`amount`)")]),
           {"rows": [{"fieldName": region}], "columns": [{"fieldName": "category"}],
            "cell": {"type": "multi-cell", "fields": [{"fieldName": total, "cellType": "text"}]}},
           "Pivot", 4, 11),
        _w("recent", "table", _q("orders", [("order_date", "`order_date`"), (region, "`region`"),
                                            ("amount", "`amount`")], True),
           {"columns": [{"fieldName": "order_date"}, {"fieldName": region}, {"fieldName": "amount"}]},
           "Orders", 0, 15, 6, 5),
        _w("future", "sankey-3d", _q("orders", [(region, "`region`")]), {"x": {"fieldName": region}},
           "A widget type lakeloom does not draw", 0, 20, 6, 2),
    ]
    region_filter = {"widget": {"name": "region_filter", "queries": [
        {"name": "dashboards/x/datasets/orders_region", "query": {
            "datasetName": "orders", "disaggregated": False,
            "fields": [{"name": region, "expression": "`region`"},
                       {"name": "region_associativity", "expression": "COUNT_IF(`associative_filter_predicate_group`)"}]}}],
        "spec": {"version": 2, "widgetType": "filter-multi-select",
                 "encodings": {"fields": [{"fieldName": region, "queryName": "dashboards/x/datasets/orders_region"}]},
                 "frame": {"showTitle": True, "title": "Region"}}},
        "position": {"x": 0, "y": 0, "width": 2, "height": 2}}
    return {
        "datasets": [
            {"name": "orders", "displayName": "Orders", "query": f"SELECT * FROM {TABLE}"},
            {"name": "big", "displayName": "Big orders",
             "queryLines": [f"SELECT order_date, amount FROM {TABLE}\n", "WHERE qty >= :min_qty"],
             "parameters": [{"displayName": "min_qty", "keyword": "min_qty", "dataType": "INTEGER",
                             "defaultSelection": {"values": {"dataType": "INTEGER", "values": [{"value": "2"}]}}}]},
        ],
        "pages": [
            {"name": "p1", "displayName": "Overview", "pageType": "PAGE_TYPE_CANVAS", "layout": layout},
            {"name": "filters", "displayName": "Filters", "pageType": "PAGE_TYPE_GLOBAL_FILTERS",
             "layout": [region_filter]},
        ],
    }


def write(folder: Path, name: str = "sales", data: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lvdash.json"
    path.write_text(json.dumps(data if data is not None else dashboard(), indent=2))
    return path
