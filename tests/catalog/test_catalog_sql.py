"""Three-level names on a real Spark + Delta session, from SQL and the DataFrame API."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeloom.catalog import get_table, list_catalogs, list_schemas, list_tables
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


@pytest.fixture
def restore_current(spark) -> Iterator[None]:
    """Put the shared session back on main.default whatever the test did."""
    yield
    spark.sql("SET CATALOG main")
    spark.sql("USE SCHEMA default")


def _ids(spark, sql: str) -> list[int]:
    return sorted(r[0] for r in spark.sql(sql).collect())


def test_default_is_main_default(spark) -> None:
    assert spark.sql("SELECT current_catalog(), current_schema()").first() == ("main", "default")
    assert spark.catalog.currentCatalog() == "main"


def test_delta_sql_merge_history_and_time_travel(spark, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA main.sql_delta")
    spark.sql("CREATE TABLE main.sql_delta.t (id INT, v STRING) USING DELTA")
    spark.sql("INSERT INTO main.sql_delta.t VALUES (1, 'a'), (2, 'b')")
    merged = spark.sql("""
        MERGE INTO main.sql_delta.t AS t USING (SELECT 2 AS id, 'z' AS v UNION ALL SELECT 3, 'c') AS s
        ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *""").first()
    assert (merged.num_updated_rows, merged.num_inserted_rows) == (1, 1)
    history = spark.sql("DESCRIBE HISTORY main.sql_delta.t").orderBy("version").collect()
    assert [h.operation for h in history] == ["CREATE TABLE", "WRITE", "MERGE"]
    assert _ids(spark, "SELECT id FROM main.sql_delta.t VERSION AS OF 1") == [1, 2]
    assert spark.sql("SELECT v FROM main.sql_delta.t WHERE id = 2").first()[0] == "z"
    detail = spark.sql("DESCRIBE DETAIL main.sql_delta.t").first()
    assert detail.format == "delta"
    entry = get_table(spark_workspace, "main.sql_delta.t")
    assert entry is not None and entry.table_type == "MANAGED" and entry.data_source_format == "DELTA"
    assert [c["name"] for c in entry.columns] == ["id", "v"]
    assert entry.local_path is not None and entry.local_path.name.startswith("t-")
    assert entry.local_path.parent == spark_workspace.warehouse_dir.resolve() / "main" / "sql_delta"
    assert Path(detail.location.removeprefix("file:")) == entry.local_path


def test_create_lands_in_the_lakeloom_store_not_in_spark_catalog(spark, spark_workspace: Workspace) -> None:
    # Guards Delta's `isUnityCatalog` routing (our store lives under io.unitycatalog.).
    spark.sql("CREATE SCHEMA main.routing")
    spark.sql("CREATE TABLE main.routing.t (id INT) USING DELTA")
    assert (spark_workspace.catalog_dir / "main" / "routing" / "tables" / "t.json").is_file()
    spark_catalog_dbs = [r[0] for r in spark.sql("SHOW NAMESPACES IN spark_catalog").collect()]
    assert "routing" not in spark_catalog_dbs
    jcat = spark._jsparkSession.sessionState().catalog()  # Spark's v1 session catalog
    assert not jcat.databaseExists("routing")
    assert [t.name for t in spark.catalog.listTables("main.routing")] == ["t"]


def test_dataframe_api_with_three_level_names(spark) -> None:
    from delta.tables import DeltaTable

    spark.sql("CREATE SCHEMA main.df_api")
    df = spark.range(5)
    df.write.saveAsTable("main.df_api.events")  # default format: delta
    df.write.mode("append").saveAsTable("main.df_api.events")
    assert spark.table("main.df_api.events").count() == 10
    spark.range(3).write.mode("overwrite").saveAsTable("main.df_api.events")
    assert spark.read.table("main.df_api.events").count() == 3
    spark.range(2).writeTo("main.df_api.wt").create()
    spark.range(2).writeTo("main.df_api.wt").append()
    assert spark.table("main.df_api.wt").count() == 4
    spark.range(7).writeTo("main.df_api.wt").createOrReplace()
    assert spark.table("main.df_api.wt").count() == 7
    dt = DeltaTable.forName(spark, "main.df_api.events")
    dt.delete("id = 0")
    assert dt.toDF().count() == 2
    assert dt.history().first().operation == "DELETE"
    assert spark.catalog.tableExists("main.df_api.events")
    assert not spark.catalog.tableExists("main.df_api.nope")


def test_a_stream_reads_a_table_by_name_after_its_schema_grew(spark, tmp_path: Path) -> None:
    """Delta keeps the schema in its log: after a schema-merging append or ADD COLUMNS a
    streaming read by name sees the new columns (the catalog once handed Spark the columns stored
    at CREATE time, and the read failed with DELTA_READ_SOURCE_SCHEMA_CONFLICT)."""
    spark.sql("CREATE SCHEMA main.grown")
    spark.createDataFrame([(1, "a")], "id INT, name STRING").write.saveAsTable("main.grown.t")
    spark.createDataFrame([(2, "b", "gold")], "id INT, name STRING, tier STRING").write.mode("append") \
        .option("mergeSchema", "true").saveAsTable("main.grown.t")
    spark.sql("ALTER TABLE main.grown.t ADD COLUMNS (score DOUBLE)")
    stream = spark.readStream.table("main.grown.t")
    assert stream.columns == ["id", "name", "tier", "score"]
    query = stream.writeStream.format("memory").queryName("grown_stream") \
        .option("checkpointLocation", str(tmp_path / "cp")).trigger(availableNow=True).start()
    query.awaitTermination()
    assert sorted((r.id, r.tier) for r in spark.table("grown_stream").collect()) == [(1, None), (2, "gold")]
    spark.catalog.dropTempView("grown_stream")
    # partitioned tables keep their partitioning (it is Delta's, not the catalog's)
    spark.sql("CREATE TABLE main.grown.p (id INT, day STRING) USING DELTA PARTITIONED BY (day)")
    spark.sql("INSERT INTO main.grown.p VALUES (1, 'mon')")
    assert spark.sql("DESCRIBE DETAIL main.grown.p").first().partitionColumns == ["day"]
    assert [c.name for c in spark.catalog.listColumns("main.grown.p") if c.isPartition] == ["day"]


def test_use_catalog_and_use_schema(spark, restore_current) -> None:
    from delta.tables import DeltaTable

    spark.sql("USE CATALOG dev")  # Databricks syntax, rewritten by lakeloom's parser extension
    assert spark.catalog.currentCatalog() == "dev"
    spark.sql("CREATE SCHEMA sales")
    spark.sql("USE SCHEMA sales")
    spark.sql("CREATE TABLE orders AS SELECT id FROM range(4)")
    assert spark.sql("SELECT current_catalog(), current_schema()").first() == ("dev", "sales")
    assert spark.table("orders").count() == 4
    assert spark.table("sales.orders").count() == 4
    assert DeltaTable.forName(spark, "orders").toDF().count() == 4  # 1-part name, qualified for Delta
    spark.sql("  -- comments first\n use   catalog `main`")
    assert spark.catalog.currentCatalog() == "main"
    assert spark.table("dev.sales.orders").count() == 4
    spark.catalog.setCurrentCatalog("dev")
    spark.catalog.setCurrentDatabase("sales")
    assert spark.sql("SELECT count(*) FROM orders").first()[0] == 4


def test_drop_table_deletes_managed_data(spark, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA main.dropping")
    spark.range(3).write.saveAsTable("main.dropping.t")
    location = Path(spark.sql("DESCRIBE DETAIL main.dropping.t").first().location.removeprefix("file:"))
    assert (location / "_delta_log").is_dir()
    spark.sql("DROP TABLE main.dropping.t")
    assert not location.exists()
    assert get_table(spark_workspace, "main.dropping.t") is None
    assert not spark.catalog.tableExists("main.dropping.t")


def test_rename_and_create_like(spark, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA main.renames")
    spark.sql("CREATE TABLE main.renames.a (id INT, v STRING) USING DELTA PARTITIONED BY (v)")
    spark.sql("ALTER TABLE main.renames.a RENAME TO main.renames.b")
    assert [t.name for t in list_tables(spark_workspace, "main", "renames")] == ["b"]
    spark.sql("CREATE TABLE main.renames.c LIKE main.renames.b")
    entry = get_table(spark_workspace, "main.renames.c")
    assert entry is not None and entry.table_type == "MANAGED" and entry.partition_columns == ["v"]


def test_external_table_data_survives_drop(spark, tmp_path: Path) -> None:
    spark.sql("CREATE SCHEMA main.ext")
    path = tmp_path / "ext_t"
    spark.sql(f"CREATE TABLE main.ext.t (id INT) USING DELTA LOCATION '{path}'")
    spark.sql("INSERT INTO main.ext.t VALUES (1)")
    assert spark.sql("DESCRIBE EXTENDED main.ext.t").where("col_name = 'Type'").first()[1] == "EXTERNAL"
    spark.sql("DROP TABLE main.ext.t")
    assert (path / "_delta_log").is_dir()


def test_views_and_temp_views(spark, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA main.views")
    spark.sql("CREATE TABLE main.views.base AS SELECT id FROM range(5)")
    spark.sql("CREATE VIEW main.views.big AS SELECT id FROM main.views.base WHERE id >= 3")
    assert _ids(spark, "SELECT * FROM main.views.big") == [3, 4]
    assert spark.table("main.views.big").count() == 2
    assert [r.viewName for r in spark.sql("SHOW VIEWS IN main.views").collect()] == ["big"]
    entry = get_table(spark_workspace, "main.views.big")
    assert entry is not None and entry.is_view and "main.views.base" in entry.view_definition
    spark.sql("CREATE OR REPLACE VIEW main.views.big AS SELECT id FROM main.views.base WHERE id >= 4")
    assert _ids(spark, "SELECT * FROM main.views.big") == [4]
    with pytest.raises(Exception, match="already exists|ALREADY_EXISTS"):
        spark.sql("CREATE VIEW main.views.base AS SELECT 1")
    spark.sql("DROP VIEW main.views.big")
    assert not spark.catalog.tableExists("main.views.big")
    spark.range(2).createOrReplaceTempView("tmp_numbers")
    assert spark.table("tmp_numbers").count() == 2
    assert spark.sql("SELECT count(*) FROM tmp_numbers").first()[0] == 2


def test_clear_errors(spark) -> None:
    spark.sql("CREATE SCHEMA main.errors")
    with pytest.raises(Exception, match="SCHEMA_NOT_FOUND"):
        spark.sql("CREATE TABLE main.no_such_schema.t (id INT)")
    with pytest.raises(Exception, match="managed tables in lakeloom catalogs are Delta tables"):
        spark.sql("CREATE TABLE main.errors.p (id INT) USING parquet")
    spark.sql("CREATE TABLE main.errors.t (id INT)")
    with pytest.raises(Exception, match="TABLE_OR_VIEW_ALREADY_EXISTS"):
        spark.sql("CREATE TABLE main.errors.t (id INT)")
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        spark.table("main.errors.missing")


def test_python_listing_reads_the_store_without_spark(spark, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA main.listing COMMENT 'for the listing test'")
    spark.sql("CREATE TABLE main.listing.a (id INT) COMMENT 'table a'")
    spark.sql("CREATE VIEW main.listing.v AS SELECT * FROM main.listing.a")
    assert "main" in list_catalogs(spark_workspace)
    schema = next(s for s in list_schemas(spark_workspace, "main") if s.name == "listing")
    assert schema.comment == "for the listing test" and schema.owner
    tables = list_tables(spark_workspace, "main", "listing")
    assert [(t.full_name, t.table_type) for t in tables] == [("main.listing.a", "MANAGED"), ("main.listing.v", "VIEW")]
    assert tables[0].comment == "table a" and tables[0].owner
