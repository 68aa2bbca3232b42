"""Spark settings of lineage, the OpenLineage export and the system catalog (no JVM)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.catalog.system_conf import jdbc_url, system_spark_conf
from lakeloom.config import Workspace


def test_jdbc_url_of_the_run_store() -> None:
    assert jdbc_url("sqlite:////data/ws/.lakeloom/lakeloom.db") == "jdbc:sqlite:/data/ws/.lakeloom/lakeloom.db"
    assert jdbc_url("postgresql+psycopg://lake:p%40ss@db:5433/lakeloom") == (
        "jdbc:postgresql://db:5433/lakeloom?user=lake&password=p%40ss")
    assert jdbc_url("mysql://x/y") is None


def test_openlineage_settings_and_lineage_switch(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"governance": {"openlineage": {
        "url": "http://127.0.0.1:5000", "file": "lineage/events.jsonl", "namespace": "dev"}}})
    conf = system_spark_conf(ws)
    assert conf["spark.lakeloom.openlineage.url"] == "http://127.0.0.1:5000"
    assert conf["spark.lakeloom.openlineage.file"] == str(tmp_path / "lineage" / "events.jsonl")
    assert conf["spark.extraListeners"].endswith("LineageListener")
    assert conf["spark.sql.catalog.system.store-url"].startswith("jdbc:sqlite:")
    off = system_spark_conf(Workspace(root=tmp_path, settings={"governance": {"lineage": False}}))
    assert "spark.extraListeners" not in off and "spark.sql.catalog.system" in off
    with pytest.raises(ValueError, match="governance.openlineage must be a mapping"):
        system_spark_conf(Workspace(root=tmp_path, settings={"governance": {"openlineage": "http://x"}}))
