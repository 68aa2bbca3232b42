"""Bundle resources that need a Databricks workspace (Lakebase, SQL alerts, clusters): `bundle validate`
and `deploy` say by key that they are not deployed, and `bundle run` of one names what it is
instead of failing on the deployed file. No JVM."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lakeloom.cli.main import cli
from bundle_files import write

LAKEBASE = {
    "databricks.yml": """
        bundle: {name: pg}
        resources:
          postgres_projects:
            app: {project_id: app-project, display_name: App, pg_version: 16}
          postgres_catalogs:
            app_catalog:
              catalog_id: app_catalog
              branch: ${resources.postgres_projects.app.id}/branches/production
              postgres_database: app_db
          alerts:
            revenue:
              display_name: Revenue
              query_text: SELECT 1 AS amount
              evaluation: {comparison_operator: GREATER_THAN, source: {name: amount},
                           threshold: {value: {double_value: 0}}}
          clusters:
            dev_cluster: {cluster_name: Dev, spark_version: 15.4.x-scala2.12, num_workers: 0}
        """,
}


@pytest.fixture
def lakebase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.delenv("DATABRICKS_BUNDLE_TARGET", raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    return write(tmp_path / "b", LAKEBASE), ws


def _invoke(ws: Path, root: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["-w", str(ws), "bundle", *args, "--bundle", str(root)])
    return res.exit_code, res.output


def test_validate_and_deploy_say_lakebase_is_not_deployed(lakebase: tuple[Path, Path]) -> None:
    root, ws = lakebase
    code, out = _invoke(ws, root, "validate")
    assert code == 0, out
    assert "unknown resource type" not in out  # postgres_catalogs is a Databricks resource type
    for line, kind, key in ((4, "postgres_projects", "app"), (6, "postgres_catalogs", "app_catalog")):
        assert (f"databricks.yml:{line}: field 'resources.{kind}.{key}': warning: Lakebase ({kind}) is a managed "
                "PostgreSQL service of a Databricks workspace") in out, out
    code, out = _invoke(ws, root, "deploy")
    assert code == 0, out
    assert "warning: resources.postgres_catalogs.app_catalog: Lakebase (postgres_catalogs)" in out, out
    assert "warning: resources.alerts.revenue: no installed plugin deploys alerts" in out, out
    # an all-purpose cluster is no failure to come: tasks naming it run on the run's session
    assert ("warning: resources.clusters.dev_cluster: no installed plugin deploys clusters; it is not started "
            "(tasks that name it as their existing cluster run on an entry of compute.clusters") in out, out


@pytest.mark.parametrize(("key", "kind", "line"), [("app_catalog", "postgres_catalogs", 6), ("revenue", "alerts", 11)])
def test_bundle_run_of_a_resource_that_is_no_job_names_it(lakebase: tuple[Path, Path], key: str, kind: str,
                                                          line: int) -> None:
    root, ws = lakebase
    code, out = _invoke(ws, root, "run", key, "--no-daemon")
    assert code == 2
    assert (f"databricks.yml:{line}: field 'resources.{kind}.{key}': resources.{kind}.{key} is not a job or "
            "pipeline: lakeloom bundle run runs jobs and pipeline updates (jobs: none; pipelines: none)") in out, out
    assert "resources must contain a 'jobs' mapping" not in out
    assert not (ws / ".lakeloom" / "bundles" / "pg").exists()  # refused before deploying anything
