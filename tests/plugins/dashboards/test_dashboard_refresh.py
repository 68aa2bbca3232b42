"""dashboard_task on real Spark + Delta: every widget computed from its dataset, parameters
bound by Spark, filter columns kept for the browser, a broken dataset failing the task by
name while the other widgets refresh, package dashboards, and `lakeloom dashboards`."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sample_dashboard import create_orders, dashboard, write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))
from lakeloom.cli.main import cli  # noqa: E402
from lakeloom.config import load_workspace  # noqa: E402
from lakeloom.engine.api import Engine  # noqa: E402
from lakeloom.hookspecs import hookimpl  # noqa: E402
from lakeloom.plugin_manager import build_plugin_manager  # noqa: E402
from lakeloom.plugins.dashboards import discovery, snapshots  # noqa: E402
from lakeloom.plugins.dashboards.model import load  # noqa: E402
from lakeloom.plugins.dashboards.refresh import refresh  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def refreshed(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from serving import make_workspace

    root = make_workspace(tmp_path_factory.mktemp("dash"))
    create_orders(spark)
    write(root / "dashboards")
    broken = dashboard()
    broken["datasets"].append({"name": "missing", "query": "SELECT region FROM main.dash_sales.no_such_table"})
    broken["pages"][0]["layout"][4]["widget"]["queries"][0]["query"]["datasetName"] = "missing"
    write(root / "dashboards", "broken", broken)
    job = root / "jobs" / "refresh.yml"
    job.parent.mkdir(parents=True)
    job.write_text(yaml.safe_dump({"name": "refresh", "tasks": [
        {"task_key": "sales", "dashboard_task": {"dashboard_id": "sales", "warehouse_id": "local"}},
        {"task_key": "broken", "dashboard_task": {"dashboard_id": "broken"}},
    ]}))
    ws = load_workspace(root)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    run = engine.submit(str(job))
    rows = {r.task_key: r for r in engine.store.task_runs(run["run_id"])}
    engine.store.close()
    yield {"root": root, "ws": ws, "run": run, "rows": rows}
    spark.sql("DROP SCHEMA IF EXISTS main.dash_sales CASCADE")


def _rows(snapshot: dict[str, Any], widget: str) -> list[dict[str, Any]]:
    (query,) = snapshot["widgets"][widget]["queries"]
    return [dict(zip(query["columns"], row)) for row in query["rows"]]


def test_every_widget_is_computed_from_its_dataset(refreshed: dict[str, Any]) -> None:
    assert refreshed["rows"]["sales"].result_state == "SUCCESS", refreshed["rows"]["sales"].state_message
    snap = snapshots.latest(refreshed["ws"], "sales")
    assert snap is not None and snap["run_id"] == refreshed["run"]["run_id"] and snap["task_key"] == "sales"
    # 10 days x 3 regions x 2 categories; amount = day + region index + 0.5
    # widgets that group the filtered column away keep one row per region for the browser
    total = _rows(snap, "total")
    assert sorted(r["__filter__region"] for r in total) == ["east", "north", "south"]
    assert sum(r["sum(amount)"] for r in total) == 2 * sum(d + r + 0.5 for d in range(10) for r in range(3))
    assert sum(r["count(*)"] for r in _rows(snap, "orders_n")) == 60
    by_region = {r["region"]: r["sum(amount)"] for r in _rows(snap, "by_region")}
    assert by_region == {"north": 2 * sum(d + 0.5 for d in range(10)), "south": 2 * sum(d + 1.5 for d in range(10)),
                         "east": 2 * sum(d + 2.5 for d in range(10))}
    daily: dict[str, float] = {}
    for r in _rows(snap, "daily"):
        daily[r["daily(order_date)"]] = daily.get(r["daily(order_date)"], 0) + r["sum(amount)"]
    assert len(daily) == 10 and min(daily).startswith("2026-01-01")
    assert daily[min(daily)] == 2 * (0.5 + 1.5 + 2.5)
    assert len(_rows(snap, "recent")) == 60 and len(_rows(snap, "qty_amount")) == 60  # disaggregated
    combo = {r["region"]: r for r in _rows(snap, "combo")}
    assert combo["north"]["__n__avg(qty)"] == 20
    assert snap["widgets"]["intro"] == {"type": "text", "queries": [], "error": None}
    assert snap["widgets"]["future"]["type"] == "sankey-3d" and snap["widgets"]["future"]["error"] is None
    # the filter widget's values, and the region column kept on widgets that group it away
    assert [r["region"] for r in _rows(snap, "region_filter")] == ["east", "north", "south"]
    (total_query,) = snap["widgets"]["total"]["queries"]
    assert total_query["filter_columns"] == {"region": "__filter__region"} and len(total_query["rows"]) == 3
    assert snap["definition"] == dashboard()  # the file as written, for the page to lay out


def test_dataset_parameters_are_bound_with_their_defaults(refreshed: dict[str, Any]) -> None:
    sales = snapshots.latest(refreshed["ws"], "sales")
    assert sales is not None and sales["datasets"]["big"]["parameters"] == {"min_qty": 2}
    assert _rows(sales, "big_orders") == [{"count(*)": sum(q >= 2 for q in QTYS)}]  # "big" has no filter


QTYS = [(d + r) % 3 + 1 for d in range(10) for r in range(3) for _ in range(2)]


def test_a_broken_dataset_fails_the_task_by_name_and_the_rest_refreshes(refreshed: dict[str, Any]) -> None:
    row = refreshed["rows"]["broken"]
    assert row.result_state == "FAILED"
    assert "dataset 'missing'" in row.state_message and "no_such_table" in row.state_message.lower()
    snap = snapshots.latest(refreshed["ws"], "broken")
    assert snap is not None
    assert "dataset 'missing' failed" in snap["widgets"]["by_region"]["error"]
    assert snap["widgets"]["total"]["error"] is None and _rows(snap, "total")
    out = row.output["dashboard_output"]
    assert out["failed_widgets"] == ["by_region"] and list(out["failed_datasets"]) == ["missing"]


def test_hook_lakeloom_dashboards(refreshed: dict[str, Any], tmp_path: Path) -> None:
    """A pipeline package's dashboard is found by key and refreshed by a dashboard_task
    (with a task filter setting its dataset parameter)."""
    package_file = write(tmp_path / "pkg", "pkg", dashboard())

    class PackageDashboards:
        @hookimpl
        def lakeloom_dashboards(self, workspace: object) -> list[Any]:
            return [("from_package", package_file)]

    ws = refreshed["ws"]
    pm = build_plugin_manager(ws.disabled_plugins)
    pm.register(PackageDashboards(), name="pkg-dashboards")
    found = discovery.discover(ws, pm.hook)
    assert found["from_package"].origin == "package" and found["from_package"].path == package_file
    assert found["sales"].origin == "workspace"
    engine = Engine.open(ws, pm)
    job = {"name": "pkg refresh", "tasks": [
        {"task_key": "pkg", "dashboard_task": {"dashboard_id": "from_package", "filters": {"min_qty": "3"}}}]}
    from lakeloom.spec.models import Job

    run = engine.execute(engine.prepare(Job.model_validate(job), base_dir=ws.root))
    engine.store.close()
    assert run["state"]["result_state"] == "SUCCESS"
    snap = snapshots.latest(ws, "from_package")
    assert snap is not None and snap["run_id"] == run["run_id"]
    assert _rows(snap, "big_orders") == [{"count(*)": sum(q >= 3 for q in QTYS)}]


def test_snapshots_are_immutable_and_rows_capped(spark: Any, refreshed: dict[str, Any]) -> None:
    ws = refreshed["ws"]
    before = snapshots.history(ws, "sales")
    dash = load(refreshed["root"] / "dashboards" / "sales.lvdash.json")
    result = refresh(spark, dash, row_cap=5)
    (query,) = result.snapshot["widgets"]["recent"]["queries"]
    assert query["truncated"] is True and len(query["rows"]) == 5
    path = snapshots.save(ws, result.snapshot)
    assert snapshots.history(ws, "sales") == [*before, path]
    assert path.stat().st_mode & 0o222 == 0  # written once, read-only
    assert [v for v in spark.catalog.listTables() if v.name.startswith("__lakeloom_dash")] == []


def test_aggregates_stay_exact_when_filter_groups_pass_the_row_cap(spark: Any, refreshed: dict[str, Any]) -> None:
    # The region filter splits each counter into 3 groups; with a cap of 2 the sum of the kept
    # groups would be short (Databricks' counter shows the whole total)
    dash = load(refreshed["root"] / "dashboards" / "sales.lvdash.json")
    snap = refresh(spark, dash, row_cap=2).snapshot
    (count,) = snap["widgets"]["orders_n"]["queries"]
    assert count["filter_groups_cut"] is True and count["truncated"] is False
    assert _rows(snap, "orders_n") == [{"count(*)": 60}]
    assert _rows(snap, "total") == [{"sum(amount)": 2 * sum(d + r + 0.5 for d in range(10) for r in range(3))}]
    # a widget that returns the filtered column itself keeps filtering on it
    (by_region,) = snap["widgets"]["by_region"]["queries"]
    assert by_region["filter_columns"] == {"region": "region"} and "filter_groups_cut" not in by_region
    # under the cap nothing changes: one group per region for the browser
    (uncut,) = refresh(spark, dash, row_cap=5).snapshot["widgets"]["orders_n"]["queries"]
    assert "filter_groups_cut" not in uncut and len(uncut["rows"]) == 3


def test_cli_lists_and_refreshes_by_key(refreshed: dict[str, Any]) -> None:
    runner = CliRunner()
    base = ["-w", str(refreshed["root"]), "dashboards"]
    res = runner.invoke(cli, [*base, "list"])
    assert res.exit_code == 0, res.output
    assert any(line.startswith("sales\tsales\tworkspace\t") for line in res.output.splitlines())
    before = len(snapshots.history(refreshed["ws"], "sales"))
    res = runner.invoke(cli, [*base, "refresh", "sales", "--param", "min_qty=1"])
    assert res.exit_code == 0, res.output
    assert "SUCCESS" in res.output and "/dashboards/sales" in res.output
    snap = snapshots.latest(refreshed["ws"], "sales")
    assert len(snapshots.history(refreshed["ws"], "sales")) == before + 1 and snap is not None
    assert _rows(snap, "big_orders") == [{"count(*)": 60}]
    res = runner.invoke(cli, [*base, "refresh", "nope"])
    assert res.exit_code == 1 and "no dashboard 'nope'" in res.output
