"""Deploy's warnings about resources no plugin deploys (no JVM)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lakeloom.bundle import load_bundle
from lakeloom.cli.bundle_deploy import hand_to_plugins
from lakeloom.config import load_workspace
from lakeloom.plugin_manager import build_plugin_manager


def test_a_sql_warehouse_is_not_deployed_and_no_job_needs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKELOOM_USER_NAME", "ada@example.com")
    (tmp_path / "databricks.yml").write_text(textwrap.dedent("""
        bundle: {name: wh}
        resources:
          sql_warehouses:
            twoxs: {name: Serverless Starter Warehouse, cluster_size: 2X-Small}
          apps:
            web: {name: web, source_code_path: ./app}
        """))
    ws = load_workspace(tmp_path)
    taken, warnings = hand_to_plugins(load_bundle(tmp_path), ws, build_plugin_manager(ws.disabled_plugins))
    assert taken == []
    assert sorted(w.split(": warning: ", 1)[1] for w in warnings) == [
        "resources.apps.web: no installed plugin deploys apps; it is not deployed (jobs that need it will fail)",
        "resources.sql_warehouses.twoxs: no installed plugin deploys sql_warehouses; it is not started (warehouse "
        "ids are ignored: the run's Spark session runs the SQL)"]
