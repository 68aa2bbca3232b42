"""Dashboard files checked without Spark: the model, the widget SQL, and `lakeloom validate`."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sample_dashboard import dashboard, write

from lakeloom.cli.main import cli
from lakeloom.plugins.dashboards.model import load
from lakeloom.plugins.dashboards.parameters import bind
from lakeloom.plugins.dashboards.validate import validate_dashboard_file
from lakeloom.plugins.dashboards.widget_sql import build


def test_sample_parses_into_pages_widgets_and_datasets(tmp_path: Path) -> None:
    dash = load(write(tmp_path))
    assert dash.key == "sales" and set(dash.datasets) == {"orders", "big"}
    assert dash.datasets["big"].query.endswith("WHERE qty >= :min_qty")  # queryLines joined
    assert [p.display_name for p in dash.pages] == ["Overview", "Filters"]
    types = {w.name: w.widget_type for w in dash.widgets()}
    assert types["intro"] == "text" and types["region_filter"] == "filter-multi-select"
    intro = next(w for w in dash.widgets() if w.name == "intro")
    assert intro.text == "# Sales\nOrders by **region**."
    assert validate_dashboard_file(tmp_path / "sales.lvdash.json") == []


def test_widget_sql_groups_by_the_non_aggregates_and_counts_star() -> None:
    dash = load_sample()
    daily = next(w for w in dash.widgets() if w.name == "daily_area").queries[0]
    built = build(daily, "v", ["region"], 11)
    assert built.sql == ('SELECT DATE_TRUNC("DAY", `order_date`) AS `daily(order_date)`, `region` AS `region`, '
                         "SUM(`amount`) AS `sum(amount)` FROM v GROUP BY DATE_TRUNC(\"DAY\", `order_date`), `region` "
                         "LIMIT 11")
    assert built.rollups == {"sum(amount)": "sum"} and built.filter_columns == {"region": "region"}
    orders = next(w for w in dash.widgets() if w.name == "orders_n").queries[0]
    built = build(orders, "v", ["region"], 5)
    assert built.sql == ("SELECT COUNT(*) AS `count(*)`, `region` AS `__filter__region` FROM v "
                         "GROUP BY `region` LIMIT 5")
    table = next(w for w in dash.widgets() if w.name == "recent").queries[0]
    assert "GROUP BY" not in build(table, "v", [], 5).sql  # disaggregated
    combo = next(w for w in dash.widgets() if w.name == "combo").queries[0]
    assert build(combo, "v", [], 5).count_columns == {"avg(qty)": "__n__avg(qty)"}


def test_parameters_bind_typed_values_and_rename_range_markers() -> None:
    dash = load_sample()
    sql, args = bind(dash.datasets["big"])
    assert args == {"min_qty": 2} and sql.endswith(":min_qty")
    assert bind(dash.datasets["big"], {"min_qty": "3"})[1] == {"min_qty": 3}
    raw = {"name": "r", "query": "SELECT 1 WHERE d BETWEEN :span.min AND :span.max",
           "parameters": [{"keyword": "span", "dataType": "DATE", "complexType": "RANGE", "defaultSelection": {
               "range": {"dataType": "DATE", "min": {"value": "2026-01-02"}, "max": {"value": "2026-01-05T00:00"}}}}]}
    from lakeloom.plugins.dashboards.model import parse

    sql, args = bind(parse({"datasets": [raw], "pages": []}, "r").datasets["r"])
    assert ":span__min AND :span__max" in sql
    assert [str(v) for v in args.values()] == ["2026-01-02", "2026-01-05"]


def load_sample():  # type: ignore[no-untyped-def]
    from lakeloom.plugins.dashboards.model import parse

    return parse(dashboard(), "sales")


def test_validate_names_file_and_json_path_for_each_problem(tmp_path: Path) -> None:
    data = dashboard()
    data["datasets"][1]["queryLines"] = ["SELECT amount FROM t WHERE (qty >= "]
    layout = data["pages"][0]["layout"]
    layout[4]["widget"]["queries"][0]["query"]["datasetName"] = "gone"
    layout[5]["widget"]["spec"]["encodings"]["y"]["fieldName"] = "nope"
    layout[6]["widget"]["queries"][0]["query"]["fields"][2]["expression"] = "SUM(`amount`"
    bad = write(tmp_path, "bad", data)
    problems = {p.field: p.message for p in validate_dashboard_file(bad)}
    assert set(problems) == {
        "datasets[1].query",
        "pages[0].layout[4].widget.queries[0].query.datasetName",
        "pages[0].layout[5].widget.spec.encodings.y.fieldName",
        "pages[0].layout[6].widget.queries[0].query.fields[2].expression",
    }, problems
    assert "dataset 'big': SQL does not parse" in problems["datasets[1].query"]
    assert "names dataset 'gone'" in problems["pages[0].layout[4].widget.queries[0].query.datasetName"]
    assert "draws field 'nope'" in problems["pages[0].layout[5].widget.spec.encodings.y.fieldName"]

    data = dashboard()
    data["datasets"][1]["queryLines"] = ["SELECT order_date, amount FROM t"]
    data["pages"][0]["layout"][3]["widget"]["queries"][0]["query"]["fields"][0]["expression"] = "SUM(`qtty`)"
    problems = {p.field: p.message for p in validate_dashboard_file(write(tmp_path, "cols", data))}
    assert "reads column 'qtty'" in problems["pages[0].layout[3].widget.queries[0].query.fields[0].expression"]


def test_lakeloom_validate_reports_bad_json_with_line_and_column(tmp_path: Path) -> None:
    good = write(tmp_path, "good")
    broken = tmp_path / "broken.lvdash.json"
    broken.write_text(json.dumps(dashboard())[:-3])
    res = CliRunner().invoke(cli, ["-w", str(tmp_path), "validate", str(good), str(broken)])
    assert res.exit_code == 2, res.output
    assert f"{good}: OK (dashboard)" in res.stdout
    assert f"{broken}:1:" in res.stderr and "not valid JSON" in res.stderr and "INVALID (1 error)" in res.stderr


def test_retail_demo_dashboard_is_valid_and_contributed_by_its_package() -> None:
    from lakeloom_retail.plugin import lakeloom_dashboards

    (path,) = lakeloom_dashboards(workspace=None)
    assert path.name == "retail.lvdash.json" and validate_dashboard_file(path) == []
    dash = load(path)
    types = sorted(w.widget_type for w in dash.widgets())
    assert types == ["bar", "counter", "counter", "counter", "filter-multi-select", "line", "table", "text"]


def test_relative_date_defaults_bind_and_a_bad_default_is_a_reported_problem(tmp_path: Path) -> None:
    # The LakeFlow system-tables dashboard's shape: DATE parameters defaulting to now-60d/d and now/d.
    import datetime as dt

    from lakeloom.plugins.dashboards.model import parse
    from lakeloom.plugins.dashboards.parameters import relative_time

    now = dt.datetime(2026, 3, 31, 15, 42, 7)
    assert relative_time("now-60d/d", now) == dt.datetime(2026, 1, 30)
    assert relative_time("now/d", now) == dt.datetime(2026, 3, 31)
    assert relative_time("now-1M/M", now) == dt.datetime(2026, 2, 1)
    assert relative_time("now-1M", now) == dt.datetime(2026, 2, 28, 15, 42, 7)
    assert relative_time("now-2w/w", now) == dt.datetime(2026, 3, 16)
    assert relative_time("now+3h/h", now) == dt.datetime(2026, 3, 31, 18)
    assert relative_time("2026-01-01", now) is None

    def date_param(keyword: str, value: str) -> dict:
        return {"displayName": keyword, "keyword": keyword, "dataType": "DATE", "defaultSelection": {
            "values": {"dataType": "DATE", "values": [{"value": value}]}}}

    data = dashboard()
    data["datasets"][1]["queryLines"] = ["SELECT order_date, amount FROM t WHERE order_date BETWEEN :d_from AND :d_to"]
    data["datasets"][1]["parameters"] = [date_param("d_from", "now-60d/d"), date_param("d_to", "now/d")]
    _, args = bind(parse(data, "rel").datasets["big"])
    today = dt.date.today()
    assert args["d_to"] in (today, today + dt.timedelta(days=1)) and (args["d_to"] - args["d_from"]).days == 60
    assert validate_dashboard_file(write(tmp_path, "rel", data)) == []

    data["datasets"][1]["parameters"][0] = date_param("d_from", "sixty days ago")
    problems = {p.field: p.message for p in validate_dashboard_file(write(tmp_path, "bad_default", data))}
    assert problems == {"datasets[1].parameters":
                        "dataset 'big': a parameter's default value: 'sixty days ago' is not a DATE"}


def test_widgets_on_unaliased_expression_columns_are_not_flagged(tmp_path: Path) -> None:
    # The Jobs system-tables dashboard's shape: "select ..., any_value(dbr_Version) from ... group by 1"
    # with a widget field "`any_value(dbr_Version)`", the name Spark gives the column.
    data = dashboard()
    data["datasets"][1]["queryLines"] = ["SELECT order_date, any_value(amount) FROM t GROUP BY 1"]
    data["pages"][0]["layout"][3]["widget"]["queries"][0]["query"]["fields"][0]["expression"] = \
        "`any_value(amount)`"
    assert validate_dashboard_file(write(tmp_path, "unaliased", data)) == []
    data["datasets"][1]["queryLines"] = ["SELECT order_date, any_value(amount) AS amount FROM t GROUP BY 1"]
    problems = {p.field: p.message for p in validate_dashboard_file(write(tmp_path, "aliased", data))}
    assert "reads column 'any_value(amount)'" in problems["pages[0].layout[3].widget.queries[0].query.fields[0].expression"]


def test_grid_v1_pages_are_twelve_columns_wide(tmp_path: Path) -> None:
    # The Genie usage dashboard's shape: pages saved with layoutVersion GRID_V1, widgets up to width 12.
    data = dashboard()
    data["pages"][0]["layout"][3]["position"] = {"x": 0, "y": 0, "width": 12, "height": 4}
    problems = {p.field: p.message for p in validate_dashboard_file(write(tmp_path, "six", data))}
    assert problems == {"pages[0].layout[3].position": "x=0 width=12 leaves the 6-column grid"}
    data["pages"][0]["layoutVersion"] = "GRID_V1"
    assert validate_dashboard_file(write(tmp_path, "twelve", data)) == []
    data["pages"][0]["layout"][3]["position"]["x"] = 3
    problems = {p.field: p.message for p in validate_dashboard_file(write(tmp_path, "over", data))}
    assert problems == {"pages[0].layout[3].position": "x=3 width=12 leaves the 12-column grid"}
