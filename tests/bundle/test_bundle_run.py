"""`lakeloom bundle run|deploy|destroy` on real Spark + Delta: a bundle whose job writes a Delta
table into the schema and a file into the volume the bundle declares, then refreshes a
pipeline of the bundle that reads it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakeloom.bundle import load_bundle
from lakeloom.cli.bundle_deploy import deploy_bundle, destroy_bundle
from lakeloom.cli.main import cli
from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.plugins.dashboards.snapshots import latest as latest_snapshot
from lakeloom.runtime.dbutils.secrets import SecretsUtil
from bundle_files import write

pytestmark = pytest.mark.spark

BUNDLE = {
    "databricks.yml": """
        bundle: {name: lake}
        include: [resources/*.yml]
        variables:
          catalog: {default: main}
          rows: {default: 3}
        targets:
          ci:
            default: true
            variables: {rows: 4}
          dev:
            mode: development
        """,
    "resources/catalog.yml": """
        resources:
          schemas:
            sales: {name: bundle_sales, catalog_name: "${var.catalog}", comment: "made by the bundle"}
          volumes:
            landing: {name: landing, catalog_name: "${var.catalog}", schema_name: "${resources.schemas.sales.name}"}
          dashboards:
            overview: {display_name: Overview, file_path: ../overview.lvdash.json, warehouse_id: w}
          experiments:
            tuning: {name: /Shared/tuning}
          secret_scopes:
            keys: {name: "${bundle.name}-keys"}
        """,
    "resources/jobs.yml": """
        resources:
          jobs:
            nightly:
              parameters: [{name: note, default: none}]
              tasks:
                - task_key: load
                  spark_python_task:
                    python_file: ../src/load.py
                    parameters: ["${resources.schemas.sales.id}", "${var.rows}", "{{job.parameters.note}}",
                                 "/Volumes/${var.catalog}/${resources.volumes.landing.schema_name}/landing"]
                - task_key: refresh
                  depends_on: [{task_key: load}]
                  pipeline_task: {pipeline_id: "${resources.pipelines.totals.id}"}
                - task_key: dashboard
                  depends_on: [{task_key: refresh}]
                  dashboard_task: {dashboard_id: "${resources.dashboards.overview.id}", warehouse_id: w}
          pipelines:
            totals:
              name: Totals of the nightly numbers
              catalog: ${var.catalog}
              schema: ${resources.schemas.sales.name}
              libraries: [{file: {path: ../src/totals.sql}}]
        """,
    "src/load.py": """
        import sys
        from pyspark.sql import SparkSession

        schema, rows, note, volume = sys.argv[1:5]
        spark = SparkSession.builder.getOrCreate()
        spark.range(int(rows)).write.mode("overwrite").saveAsTable(f"{schema}.numbers")
        spark.createDataFrame([(note,)], "note string").write.mode("overwrite").json(f"{volume}/note")
        """,
    "src/totals.sql": "CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n, sum(id) AS s FROM numbers\n",
    "overview.lvdash.json": json.dumps({
        "datasets": [{"name": "n", "displayName": "Numbers", "query": "SELECT id FROM main.bundle_sales.numbers"}],
        "pages": [{"name": "p", "displayName": "Numbers", "layout": [{"position": {"x": 0, "y": 0, "width": 2, "height": 2},
                   "widget": {"name": "total", "queries": [{"name": "main_query", "query": {
                       "datasetName": "n", "fields": [{"name": "sum(id)", "expression": "SUM(`id`)"}],
                       "disaggregated": False}}],
                       "spec": {"version": 2, "widgetType": "counter", "encodings": {"value": {"fieldName": "sum(id)"}}}}}]}]}),
}


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAKELOOM_USER_NAME", "ada@example.com")
    return write(tmp_path / "lake", BUNDLE)


def _volumes(spark, schema: str) -> list[str]:  # noqa: ANN001
    return [r.volume_name for r in spark.sql(f"SHOW VOLUMES IN {schema}").collect()]


def test_bundle_run_then_destroy(spark, spark_workspace, lake: Path, tmp_path: Path) -> None:  # noqa: ANN001
    ws_root = tmp_path / "ws"
    ws_root.mkdir()
    runner = CliRunner()
    base = ["-w", str(ws_root), "bundle"]
    res = runner.invoke(cli, [*base, "run", "nightly", "--bundle", str(lake), "--params", "note=hello", "--json"])
    assert res.exit_code in (0, 1), res.output
    run = json.loads(res.stdout[res.stdout.index("{"):])
    assert run["state"]["result_state"] == "SUCCESS", [t["state"] for t in run["tasks"]]
    assert res.exit_code == 0
    assert spark.table("main.bundle_sales.numbers").count() == 4  # the ci target's variable
    assert spark.read.json("/Volumes/main/bundle_sales/landing/note").first().note == "hello"
    landing = spark_workspace.volumes_root / "main" / "bundle_sales" / "landing"
    assert (landing / "note").is_dir() and _volumes(spark, "main.bundle_sales") == ["landing"]
    assert spark.table("main.bundle_sales.totals").first().asDict() == {"n": 4, "s": 6}
    assert "made by the bundle" in str(spark.sql("DESCRIBE SCHEMA EXTENDED main.bundle_sales").collect())
    # the built-in dashboards plugin takes the dashboard; the job refreshes it by its bundle reference
    assert "deploys dashboards" not in res.stderr
    snap = latest_snapshot(load_workspace(ws_root), "overview")
    assert snap is not None and snap["run_id"] == run["run_id"] and snap["task_key"] == "dashboard"
    assert snap["widgets"]["total"]["queries"][0]["rows"] == [[6]]

    res = runner.invoke(cli, [*base, "run", "totals", "--bundle", str(lake), "--full-refresh-all"])
    assert res.exit_code == 0, res.output  # a pipeline key runs one update

    res = runner.invoke(cli, [*base, "destroy", "--bundle", str(lake), "--auto-approve"])
    assert res.exit_code == 0, res.output
    assert "dropped schema main.bundle_sales" in res.output
    assert not spark.catalog.databaseExists("main.bundle_sales")
    assert not landing.exists()


def test_hook_lakeloom_bundle_resource(spark, lake: Path, tmp_path: Path,  # noqa: ANN001
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Deploy hands the dashboards to the plugin that takes them, warns about the rest by key,
    creates the dev-prefixed schema and volume and records the job for `lakeloom serve`."""

    class DashboardPlugin:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str, dict]] = []

        @hookimpl
        def lakeloom_bundle_resource(self, kind: str, key: str, settings: dict, bundle_root: Path,
                                     workspace: object) -> bool | None:
            if kind != "dashboards":
                return None
            self.seen.append((kind, key, settings))
            return True

    ws = load_workspace(tmp_path)
    pm = build_plugin_manager(ws.disabled_plugins)
    plugin = DashboardPlugin()
    pm.register(plugin, name="test-dashboards")
    engine = Engine.open(ws, pm)
    bundle = load_bundle(lake, target="dev")
    try:
        lines = deploy_bundle(bundle, engine)
        (seen,) = plugin.seen
        assert seen[:2] == ("dashboards", "overview")
        assert seen[2]["file_path"] == str(lake / "overview.lvdash.json")  # made absolute
        assert seen[2]["display_name"] == "[dev ada] Overview"
        assert any("resources.experiments.tuning: no installed plugin deploys experiments" in line for line in lines)
        (row,) = engine.store.deployed_jobs()
        assert row.name == "[dev ada] nightly" and row.job_key == "nightly"
        settings = row.settings
        refresh = next(t for t in settings["tasks"] if t["task_key"] == "refresh")
        assert refresh["pipeline_task"]["pipeline_id"] == "${resources.pipelines.totals.id}"
        assert spark.catalog.databaseExists("main.dev_ada_bundle_sales")  # UC names get dev_<user>_
        assert _volumes(spark, "main.dev_ada_bundle_sales") == ["landing"]
        monkeypatch.setenv("LAKELOOM_WORKSPACE", str(tmp_path))
        monkeypatch.setenv("LAKELOOM_SECRET_LAKE_KEYS__TOKEN", "s3cret")
        secrets = SecretsUtil()
        assert [s.name for s in secrets.listScopes()] == ["lake-keys"]  # the bundle's scope exists
        assert secrets.get("lake-keys", "token") == "s3cret"
        with pytest.raises(Exception, match="Secret does not exist with scope: lake-keys and key: other$"):
            secrets.get("lake-keys", "other")
    finally:
        lines = destroy_bundle(bundle.name, bundle.target, engine)
    assert "undeployed job resources.jobs.nightly" in lines[0]
    assert engine.store.deployed_jobs() == []
    assert "deleted secret scope lake-keys" in lines
    monkeypatch.delenv("LAKELOOM_SECRET_LAKE_KEYS__TOKEN")
    assert SecretsUtil().listScopes() == []
    assert not spark.catalog.databaseExists("main.dev_ada_bundle_sales")
