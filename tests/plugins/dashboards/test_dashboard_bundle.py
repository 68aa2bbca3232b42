"""Bundle dashboards on real Spark + Delta: `lakeloom validate databricks.yml` checks them,
`dataset_catalog`/`dataset_schema` place unqualified table names, a `schedule` becomes a
deployed refresh job that serve's scheduler can load, and destroy (or a redeploy without
the dashboard) takes all of it away again. Also the two hooks behind that."""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sample_dashboard import create_orders

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))
from lakeloom.bundle import load_bundle  # noqa: E402
from lakeloom.cli.bundle_deploy import checked_jobs, deploy_bundle, destroy_bundle  # noqa: E402
from lakeloom.cli.main import cli  # noqa: E402
from lakeloom.config import load_workspace  # noqa: E402
from lakeloom.engine.api import Engine  # noqa: E402
from lakeloom.engine.executor import RunExecutor  # noqa: E402
from lakeloom.hookspecs import hookimpl  # noqa: E402
from lakeloom.plugin_manager import build_plugin_manager  # noqa: E402
from lakeloom.plugins.dashboards import discovery, snapshots  # noqa: E402
from lakeloom.scheduler.clock import ManualClock  # noqa: E402
from lakeloom.scheduler.loop import Scheduler  # noqa: E402
from lakeloom.spec.loader import SpecError  # noqa: E402

pytestmark = pytest.mark.spark

SCHEMA = "dash_bundle"


def _dashboard(query: str = "SELECT region, amount FROM orders") -> dict[str, Any]:
    """One dataset with an unqualified table name and one counter over it."""
    return {"datasets": [{"name": "orders", "displayName": "Orders", "query": query}],
            "pages": [{"name": "p", "displayName": "P", "layout": [{
                "widget": {"name": "total", "queries": [{"name": "main_query", "query": {
                    "datasetName": "orders", "disaggregated": False,
                    "fields": [{"name": "sum(amount)", "expression": "SUM(`amount`)"}]}}],
                    "spec": {"version": 2, "widgetType": "counter",
                             "encodings": {"value": {"fieldName": "sum(amount)"}}}},
                "position": {"x": 0, "y": 0, "width": 2, "height": 2}}]}]}


def _write_bundle(root: Path, dashboard: dict[str, Any], cron: str = "0 0 6 * * ?") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "sales.lvdash.json").write_text(json.dumps(dashboard))
    (root / "databricks.yml").write_text(textwrap.dedent(f"""\
        bundle: {{name: dashboards_demo}}
        targets:
          local: {{default: true}}
        resources:
          dashboards:
            sales:
              display_name: Sales
              file_path: src/sales.lvdash.json
              warehouse_id: abc
              dataset_catalog: main
              dataset_schema: {SCHEMA}
              schedule:
                cron_schedule: {{quartz_cron_expression: "{cron}", timezone_id: UTC}}
                pause_status: UNPAUSED
          jobs:
            refresh:
              name: refresh sales
              tasks:
                - task_key: refresh
                  dashboard_task:
                    dashboard_id: ${{resources.dashboards.sales.id}}
                    warehouse_id: abc
        """))
    return root


@pytest.fixture(scope="module")
def orders(spark: Any) -> Any:
    create_orders(spark)  # main.dash_sales.orders
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS main.{SCHEMA}")
    spark.sql(f"CREATE OR REPLACE TABLE main.{SCHEMA}.orders USING delta AS "
              f"SELECT region, amount FROM main.dash_sales.orders WHERE region = 'north'")
    yield spark
    spark.sql(f"DROP SCHEMA IF EXISTS main.{SCHEMA} CASCADE")
    spark.sql("DROP SCHEMA IF EXISTS main.dash_sales CASCADE")


def test_validate_checks_bundle_dashboards(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    good = _write_bundle(tmp_path / "good", _dashboard())
    runner = CliRunner()
    ok = runner.invoke(cli, ["--workspace", str(ws), "validate", str(good / "databricks.yml")])
    assert ok.exit_code == 0, ok.output
    assert "OK (bundle dashboards_demo, target local: 1 job, 1 task)" in ok.output

    broken = _dashboard()
    broken["pages"][0]["layout"][0]["widget"]["queries"][0]["query"]["datasetName"] = "nope"
    bad = _write_bundle(tmp_path / "bad", broken, cron="61 0 6 * * ?")
    res = runner.invoke(cli, ["--workspace", str(ws), "validate", str(bad / "databricks.yml")])
    assert res.exit_code == 2, res.output
    assert f"{bad / 'src' / 'sales.lvdash.json'}: field 'pages[0].layout[0].widget.queries[0].query.datasetName'" \
        in res.output
    assert "resources.dashboards.sales.schedule.cron_schedule" in res.output
    assert f"{bad / 'databricks.yml'}:" in res.output  # the schedule problem sits on the bundle's line
    res = runner.invoke(cli, ["--workspace", str(ws), "bundle", "validate", "--bundle", str(bad)])
    assert res.exit_code == 2 and "datasetName" in res.output


def test_schedule_dataset_schema_and_destroy(orders: Any, tmp_path: Path) -> None:
    root = _write_bundle(tmp_path / "b", _dashboard())
    ws = load_workspace(tmp_path / "ws")
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    try:
        lines = deploy_bundle(load_bundle(root), engine)
        assert "handed resources.dashboards.sales to its plugin" in lines
        (entry,) = [e for e in discovery.read_registry(ws).values()]
        (job_id,) = entry["schedule_jobs"]
        stored = engine.store.get_job(job_id)
        assert stored is not None and stored.deployed and stored.name == "Sales (dashboard refresh)"
        job = stored.job  # what serve's scheduler loads
        assert job.schedule.quartz_cron_expression == "0 0 6 * * ?"
        assert job.schedule.pause_status == "UNPAUSED"
        assert job.tasks[0].task_key == "refresh"
        assert stored.settings["tasks"][0]["dashboard_task"] == {"dashboard_id": "sales"}

        # serve's scheduler fires it at 06:00 UTC; `orders` resolves to main.dash_bundle.orders
        executor = RunExecutor(engine, per_run_spark=False)
        clock = ManualClock(int(dt.datetime(2026, 12, 3, 5, 59, tzinfo=dt.timezone.utc).timestamp() * 1000))
        sched = Scheduler(executor, clock=clock, poll_seconds=1, refresh_seconds=0)
        sched.tick()
        assert engine.store.list_runs(job_id=job_id, limit=5) == []
        clock.advance(120)
        sched.tick()
        deadline = time.monotonic() + 300
        while (executor.active_run_ids() or not engine.store.list_runs(job_id=job_id, limit=5)) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        (run,) = engine.store.list_runs(job_id=job_id, limit=5)
        assert run.result_state == "SUCCESS", run
        snap = snapshots.latest(ws, "sales")
        (query,) = snap["widgets"]["total"]["queries"]
        north = orders.sql(f"SELECT SUM(amount) FROM main.{SCHEMA}.orders").first()[0]
        assert query["error"] is None and query["rows"] == [[float(north)]]

        # a redeploy without the schedule undeploys its job; destroy forgets the dashboard
        (root / "databricks.yml").write_text((root / "databricks.yml").read_text().replace(
            "      schedule:\n", "      unused_schedule:\n"))
        deploy_bundle(load_bundle(root), engine)
        assert not engine.store.get_job(job_id).deployed
        assert discovery.read_registry(ws)["sales"]["schedule_jobs"] == []
        lines = destroy_bundle("dashboards_demo", "local", engine)
        assert "removed resources.dashboards.sales" in lines
        assert "sales" not in discovery.read_registry(ws)
    finally:
        engine.store.close()


def test_dataset_catalog_and_schema_of_the_file_apply_without_a_bundle(orders: Any) -> None:
    from lakeloom.plugins.dashboards.model import parse
    from lakeloom.plugins.dashboards.refresh import DatasetDefaults, refresh

    raw = _dashboard()
    raw["datasets"][0].update(catalog="main", schema=SCHEMA)
    result = refresh(orders, parse(raw, "own"))
    assert result.failed_datasets == {}
    current = orders.catalog.currentDatabase()
    # the bundle's dataset_schema wins over the file's; the run's own session never moves
    other = refresh(orders, parse(raw, "own"), overrides=DatasetDefaults("main", "dash_sales"))
    assert other.snapshot["widgets"]["total"]["queries"][0]["rows"] != \
        result.snapshot["widgets"]["total"]["queries"][0]["rows"]
    assert orders.catalog.currentDatabase() == current
    filtered = refresh(orders, parse(raw, "own"), overrides=DatasetDefaults("main", "dash_sales"),
                       filters={"region": {"values": ["north"]}})
    assert filtered.snapshot["widgets"]["total"]["queries"][0]["rows"] == \
        result.snapshot["widgets"]["total"]["queries"][0]["rows"]


def test_hook_lakeloom_check_bundle_resource(tmp_path: Path) -> None:
    class ExperimentRules:
        @hookimpl
        def lakeloom_check_bundle_resource(self, kind: str, key: str, settings: dict,
                                           bundle_root: Path) -> list[SpecError] | None:
            if kind != "experiments":
                return None
            if not str(settings.get("name", "")).startswith("/"):
                return [SpecError("", None, "an experiment name is a workspace path", field="name")]
            return []

    root = tmp_path / "b"
    root.mkdir()
    (root / "databricks.yml").write_text("bundle: {name: x}\nresources:\n  experiments:\n"
                                         "    tuning:\n      name: tuning\n")
    ws = load_workspace(tmp_path / "ws")
    pm = build_plugin_manager(ws.disabled_plugins)
    pm.register(ExperimentRules(), name="experiment-rules")
    _, problems = checked_jobs(load_bundle(root), ws, pm)
    (problem,) = problems
    assert problem.file == str(root / "databricks.yml") and problem.line == 4
    assert problem.field == "resources.experiments.tuning.name"
    assert "an experiment name is a workspace path" in problem.format()


def test_hook_lakeloom_bundle_resource_removed(tmp_path: Path) -> None:
    class Experiments:
        def __init__(self) -> None:
            self.live: set[str] = set()

        @hookimpl
        def lakeloom_bundle_resource(self, kind: str, key: str, settings: dict, bundle_root: Path,
                                     workspace: object) -> bool | None:
            if kind != "experiments":
                return None
            self.live.add(key)
            return True

        @hookimpl
        def lakeloom_bundle_resource_removed(self, kind: str, key: str, workspace: object) -> bool | None:
            if kind != "experiments":
                return None
            self.live.discard(key)
            return True

    root = tmp_path / "b"
    root.mkdir()
    both = "bundle: {name: x}\nresources:\n  experiments:\n    a: {name: /a}\n    b: {name: /b}\n"
    (root / "databricks.yml").write_text(both)
    ws = load_workspace(tmp_path / "ws")
    pm = build_plugin_manager(ws.disabled_plugins)
    plugin = Experiments()
    pm.register(plugin, name="experiments")
    engine = Engine.open(ws, pm)
    try:
        deploy_bundle(load_bundle(root), engine)
        assert plugin.live == {"a", "b"}
        (root / "databricks.yml").write_text(both.replace("    b: {name: /b}\n", ""))
        lines = deploy_bundle(load_bundle(root), engine)
        assert plugin.live == {"a"} and "removed resources.experiments.b" in lines
        lines = destroy_bundle("x", "default", engine)
        assert plugin.live == set() and "removed resources.experiments.a" in lines
    finally:
        engine.store.close()
