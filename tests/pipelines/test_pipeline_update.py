"""Pipeline updates on real Spark + Delta: Auto Loader ingestion, incremental streaming
tables, expectations, SQL and Python datasets in one graph, event log, full refresh."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_helpers import land_json, write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.eventlog import read_events, summarize
from lakeloom.pipelines.runner import UpdateOptions, run_update

pytestmark = pytest.mark.spark

INGEST = {
    # Declared downstream-first on purpose: order comes from the reads.
    "src/gold.sql": """
        -- gold: recomputed every update
        CREATE OR REFRESH MATERIALIZED VIEW revenue_by_region
          COMMENT 'revenue per region'
        AS SELECT region, count(*) AS orders, sum(amount) AS revenue
           FROM silver_orders GROUP BY region;
    """,
    "src/silver.py": """
        from pyspark import pipelines as dp
        from pyspark.sql import functions as F

        @dp.table(comment="valid orders")
        @dp.expect_or_drop("positive_amount", "amount > 0")
        @dp.expect("has_region", "region IS NOT NULL")
        def silver_orders():
            return spark.readStream.table("bronze_orders").select(
                "order_id", F.col("amount").cast("double").alias("amount"), "region")
    """,
    "src/bronze.py": """
        from pyspark import pipelines as dp

        @dp.table
        def bronze_orders():
            return (spark.readStream.format("cloudFiles")
                    .option("cloudFiles.format", "json")
                    .option("cloudFiles.inferColumnTypes", "true")
                    .load(spark.conf.get("test.landing")))
    """,
}


def _orders(start: int, n: int, bad: int = 0) -> list[dict]:
    rows = [{"order_id": start + i, "amount": 10.0 + i, "region": ["emea", "amer"][i % 2]} for i in range(n)]
    for i in range(bad):
        rows[i]["amount"] = -1.0
    return rows


def test_incremental_ingestion_expectations_sql_and_event_log(spark, spark_workspace: Workspace,
                                                              tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    land_json(landing / "d1", "orders.json", _orders(0, 6, bad=1))
    loaded = write_pipeline(tmp_path / "p", "ingest", INGEST, configuration={"test.landing": str(landing)})

    first = run_update(spark, loaded, spark_workspace)
    assert first.status == "COMPLETED"
    assert first.order == ["bronze_orders", "silver_orders", "revenue_by_region"]
    assert first.datasets["silver_orders"].inputs == ["bronze_orders"]
    assert first.datasets["revenue_by_region"].inputs == ["silver_orders"]
    assert spark.table("main.ingest.bronze_orders").count() == 6
    assert spark.table("main.ingest.silver_orders").count() == 5
    assert first.datasets["silver_orders"].rows_written == 5
    silver_dq = first.as_output()["datasets"]["silver_orders"]["expectations"]
    assert {e["name"]: (e["passed_records"], e["failed_records"]) for e in silver_dq} == {
        "positive_amount": (5, 1), "has_region": (6, 0)}

    land_json(landing / "d2", "orders.json", _orders(100, 2))
    second = run_update(spark, loaded, spark_workspace)
    assert second.datasets["bronze_orders"].rows_written == 2  # only the new file
    assert second.datasets["silver_orders"].rows_written == 2
    assert spark.table("main.ingest.silver_orders").count() == 7
    gold = {r.region: r.orders for r in spark.table("main.ingest.revenue_by_region").collect()}
    assert gold == {"emea": 3, "amer": 4}
    history = spark.sql("DESCRIBE HISTORY main.ingest.revenue_by_region").collect()
    # One commit per update; the second combines the new silver rows' groups with the stored ones
    # and writes the view over (no other view reads its change feed, so no MERGE is needed).
    assert len(history) == 2 and history[0].operation == "WRITE"
    assert history[0].operationParameters["mode"] == "Overwrite"

    events = read_events(tmp_path / "p" / "storage")
    updates = summarize(events)
    assert [u.status for u in updates] == ["COMPLETED", "COMPLETED"]
    assert updates[0].dropped_records == 1 and updates[1].rows_written == second.datasets["bronze_orders"].rows_written + 2 + 2
    progress = [e for e in events if e["event_type"] == "flow_progress" and e["dataset"] == "silver_orders"
                and e["status"] == "COMPLETED"]
    dq = json.loads(progress[0]["details"])["flow_progress"]["data_quality"]
    assert dq["dropped_records"] == 1
    from_sql = spark.sql(f"SELECT count(*) FROM delta.`{tmp_path / 'p' / 'storage' / 'system' / 'events'}` "
                         "WHERE event_type = 'flow_definition'").first()[0]
    assert from_sql == 6

    # Full refresh of one streaming table: truncated and reprocessed from every file.
    third = run_update(spark, loaded, spark_workspace, UpdateOptions(full_refresh_selection=["bronze_orders"]))
    assert third.datasets["bronze_orders"].rows_written == 8
    assert third.datasets["silver_orders"].status == "SKIPPED"
    assert spark.table("main.ingest.bronze_orders").count() == 8


MULTI = {
    "src/flows.sql": """
        CREATE STREAMING TABLE all_orders;
        CREATE FLOW from_web AS INSERT INTO all_orders BY NAME
          SELECT order_id, amount, 'web' AS channel
          FROM STREAM read_files('${test.landing}/web', format => 'json');
        CREATE FLOW backfill AS INSERT INTO ONCE all_orders BY NAME
          SELECT CAST(id AS BIGINT) AS order_id, 1.0D AS amount, 'legacy' AS channel FROM range(3);
    """,
    "src/store.py": """
        from pyspark import pipelines as dp

        @dp.append_flow(target="all_orders")
        def from_store():
            return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
                    .option("cloudFiles.schemaHints", "order_id BIGINT, amount DOUBLE")
                    .load(spark.conf.get("test.landing") + "/store")
                    .selectExpr("order_id", "amount", "'store' AS channel"))
    """,
}


def test_several_flows_feed_one_streaming_table(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    land_json(landing / "web", "a.json", _orders(0, 3))
    land_json(landing / "store", "a.json", _orders(10, 2))
    loaded = write_pipeline(tmp_path / "p", "multi", MULTI, configuration={"test.landing": str(landing)})
    run_update(spark, loaded, spark_workspace)
    counts = {r.channel: r.n for r in spark.sql(
        "SELECT channel, count(*) AS n FROM main.multi.all_orders GROUP BY channel").collect()}
    assert counts == {"web": 3, "store": 2, "legacy": 3}
    assert dict(spark.table("main.multi.all_orders").dtypes)["order_id"] == "bigint"
    land_json(landing / "store", "b.json", _orders(20, 4))
    again = run_update(spark, loaded, spark_workspace)
    flows = {f.flow: (f.status, f.rows_written) for f in again.datasets["all_orders"].flows}
    assert flows == {"from_web": ("COMPLETED", 0), "backfill": ("SKIPPED", 0), "from_store": ("COMPLETED", 4)}
    assert spark.table("main.multi.all_orders").count() == 12


def test_a_warm_driver_builds_the_written_tables_state_after_the_update(spark, spark_workspace: Workspace,
                                                                      tmp_path: Path) -> None:
    from lakeloom.catalog.listing import get_table
    from lakeloom.pipelines.mv_state import local_dir
    from lakeloom.runtime import delta_warmup

    landing = tmp_path / "landing"
    land_json(landing / "d1", "orders.json", _orders(0, 4))
    loaded = write_pipeline(tmp_path / "p", "warmed", INGEST, configuration={"test.landing": str(landing)})
    delta_warmup.keep_warm()
    try:
        for batch in range(2):  # the second update starts from the first one's warmed state
            if batch:
                land_json(landing / "d2", "orders.json", _orders(100, 3))
            run_update(spark, loaded, spark_workspace)
            assert delta_warmup.wait_idle(120)
            for table in ("bronze_orders", "silver_orders", "revenue_by_region"):
                location = local_dir(get_table(spark_workspace, f"main.warmed.{table}").storage_location)
                snapshot = spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(
                    spark._jsparkSession, str(location)).unsafeVolatileSnapshot()
                newest = max(int(p.name[:20]) for p in (location / "_delta_log").glob("*.json"))
                assert (table, snapshot.version(), snapshot.stateReconstructionTriggered()) == (table, newest, True)
    finally:
        delta_warmup.keep_warm(False)
    totals = {r.region: r.orders for r in spark.table("main.warmed.revenue_by_region").collect()}
    assert totals == {"emea": 4, "amer": 3}


FILTERED = {
    # The NY-taxi shape: a streaming table that filters what its streaming source reads.
    "src/flagged.sql": """
        CREATE OR REFRESH STREAMING TABLE raw_orders
        (CONSTRAINT positive EXPECT (amount > 0) ON VIOLATION DROP ROW)
        AS SELECT * FROM STREAM(read_files('${test.landing}', format => 'json'));

        CREATE OR REFRESH STREAMING TABLE big_orders
        AS SELECT order_id, amount FROM STREAM(raw_orders) WHERE amount >= 14;

        CREATE OR REFRESH STREAMING TABLE big_emea
        (CONSTRAINT not_first EXPECT (order_id > 0) ON VIOLATION DROP ROW)
        AS SELECT order_id, amount FROM STREAM(raw_orders) WHERE amount >= 14 AND region = 'emea';
    """,
}


def test_streaming_rows_written_counts_the_flows_output_not_its_input(spark, spark_workspace: Workspace,
                                                                      tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    land_json(landing, "orders.json", _orders(0, 6, bad=1))  # amounts -1, 11, ..., 15
    loaded = write_pipeline(tmp_path / "p", "filtered", FILTERED, configuration={"test.landing": str(landing)})

    result = run_update(spark, loaded, spark_workspace)
    assert result.status == "COMPLETED"
    assert spark.table("main.filtered.big_orders").count() == 2
    assert spark.table("main.filtered.big_emea").count() == 1
    assert {k: d.rows_written for k, d in result.datasets.items()} == {
        "raw_orders": 5, "big_orders": 2, "big_emea": 1}
    events = read_events(tmp_path / "p" / "storage")
    written = {e["dataset"]: json.loads(e["details"])["flow_progress"]["metrics"]["num_output_rows"]
               for e in events if e["event_type"] == "flow_progress" and e["status"] == "COMPLETED"}
    assert written == {"raw_orders": 5, "big_orders": 2, "big_emea": 1}


def test_legacy_cloud_files_streams_xml_files_as_strings(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "suppliers"
    landing.mkdir(parents=True)
    (landing / "a.xml").write_text("<suppliers><supplier><id>1</id><ingredient>oats</ingredient></supplier>"
                                   "<supplier><id>2</id><ingredient>butter</ingredient></supplier></suppliers>")
    loaded = write_pipeline(tmp_path / "p", "legacy_cf", {"src/raw.sql": """
        -- Databricks notebook source
        CREATE STREAMING TABLE raw_suppliers
        AS SELECT * FROM cloud_files('${test.landing}', 'xml', map("rowTag", "supplier"))
    """}, configuration={"test.landing": str(landing)})
    first = run_update(spark, loaded, spark_workspace)
    assert first.datasets["raw_suppliers"].rows_written == 2
    rows = spark.table("main.legacy_cf.raw_suppliers").orderBy("id").collect()
    assert [(r.id, r.ingredient) for r in rows] == [("1", "oats"), ("2", "butter")]
    (landing / "b.xml").write_text("<suppliers><supplier><id>3</id><ingredient>salt</ingredient></supplier></suppliers>")
    again = run_update(spark, loaded, spark_workspace)
    assert again.datasets["raw_suppliers"].rows_written == 1
    assert spark.table("main.legacy_cf.raw_suppliers").count() == 3
    full = run_update(spark, loaded, spark_workspace, UpdateOptions(full_refresh=True))
    assert full.datasets["raw_suppliers"].rows_written == 3
    assert spark.table("main.legacy_cf.raw_suppliers").count() == 3


EVOLVING = {
    "src/bronze.py": """
        from pyspark import pipelines as dp

        @dp.table
        def raw_customers():
            return (spark.readStream.format("cloudFiles")
                    .option("cloudFiles.format", "json")
                    .load(spark.conf.get("test.landing")))
    """,
    "src/silver.sql": """
        CREATE OR REFRESH STREAMING TABLE customers AS
        SELECT * EXCEPT (_rescued_data) FROM STREAM(raw_customers);
    """,
}


def test_auto_loader_adds_new_columns_within_the_update(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    """In a pipeline a new column in new files evolves the stored schema and the tables in the
    same update (Databricks restarts the stream itself); earlier rows read null."""
    landing = tmp_path / "landing"
    land_json(landing, "a.json", [{"id": 1, "name": "Ada"}])
    loaded = write_pipeline(tmp_path / "p", "evolving", EVOLVING, configuration={"test.landing": str(landing)})
    assert run_update(spark, loaded, spark_workspace).status == "COMPLETED"
    land_json(landing, "b.json", [{"id": 2, "name": "Bob", "tier": "gold"}])
    second = run_update(spark, loaded, spark_workspace)
    assert second.status == "COMPLETED", second.as_output()
    assert second.datasets["raw_customers"].rows_written == 1
    # Delta's schema merge appends the new column after the table's existing ones
    assert spark.table("main.evolving.raw_customers").columns == ["id", "name", "_rescued_data", "tier"]
    assert sorted(tuple(r) for r in spark.table("main.evolving.customers").collect()) == [
        ("1", "Ada", None), ("2", "Bob", "gold")]


JHU = {
    # delta-live-tables-notebooks' sql/JHU COVID-19.sql, on local files
    "src/covid.sql": """
        SET spark.databricks.cloudFiles.schemaInference.sampleSize.numFiles = 1;

        CREATE OR REFRESH STREAMING TABLE covid_raw AS
        SELECT *, _metadata.file_name AS source_file_name
          FROM STREAM read_files("${test.landing}", format => "json", inferColumnTypes => "true",
                                 schemaEvolutionMode => "rescue");

        CREATE OR REFRESH MATERIALIZED VIEW covid_cleansed AS
        SELECT get_json_object(_rescued_data, "$.FIPS") AS fips,
               COALESCE(`Country/Region`, get_json_object(_rescued_data, "$.Country_Region")) AS country_region,
               confirmed, source_file_name
          FROM covid_raw;
    """,
}


def test_rescued_data_in_sql_as_the_jhu_covid_pipeline_reads_it(spark, spark_workspace: Workspace,
                                                                tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    land_json(landing, "01-22-2020.json", [{"Country/Region": "China", "Confirmed": 1}])
    land_json(landing, "03-23-2020.json", [{"Country_Region": "US", "FIPS": 53033, "Confirmed": 5}])
    loaded = write_pipeline(tmp_path / "p", "jhu", JHU, configuration={"test.landing": str(landing)})
    assert run_update(spark, loaded, spark_workspace).status == "COMPLETED"
    rows = sorted((tuple(r) for r in spark.table("main.jhu.covid_cleansed").collect()), key=lambda r: r[3])
    assert rows == [(None, "China", 1, "01-22-2020.json"), ("53033", "US", 5, "03-23-2020.json")]
    assert "_metadata" not in spark.table("main.jhu.covid_raw").columns  # SELECT * does not return it
