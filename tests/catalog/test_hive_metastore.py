"""``hive_metastore`` is always a catalog, as in every Databricks workspace: the CLI's bundle
templates target it (``catalog: hive_metastore``) when a workspace has no Unity Catalog."""
from __future__ import annotations

from typing import Any

import pytest

from lakeloom.catalog import get_table
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


def test_hive_metastore_is_registered_without_configuration(tmp_path) -> None:  # noqa: ANN001
    assert Workspace(root=tmp_path, settings={}).catalogs == ["main", "hive_metastore"]
    configured = Workspace(root=tmp_path, settings={"catalog": {"catalogs": ["hive_metastore", "dev"]}})
    assert configured.catalogs == ["main", "hive_metastore", "dev"]


def test_three_and_two_level_names_in_hive_metastore(spark: Any, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS hive_metastore.legacy")
    spark.sql("CREATE TABLE hive_metastore.legacy.orders AS SELECT 1 AS id, 'a' AS sku")
    try:
        spark.sql("USE CATALOG hive_metastore")
        spark.sql("INSERT INTO legacy.orders VALUES (2, 'b')")
        assert sorted(r.id for r in spark.table("legacy.orders").collect()) == [1, 2]
    finally:
        spark.sql("USE CATALOG main")
        spark.sql("USE SCHEMA default")
    assert spark.table("hive_metastore.legacy.orders").count() == 2
    entry = get_table(spark_workspace, "hive_metastore.legacy.orders")
    assert entry is not None and (entry.data_source_format or "").upper() == "DELTA"
    assert "hive_metastore" in [r[0] for r in spark.sql("SHOW CATALOGS").collect()]
