"""Lineage captured from Spark's plans on a real Spark + Delta session, read back through
``system.access.table_lineage`` / ``column_lineage``; ``system.access.audit`` over JSON lines."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from lakeloom.catalog.audit import write_audit_event
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


def _drain(spark) -> None:
    """Wait until Spark's listener bus has delivered every event (the lineage listener is async)."""
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(120_000)


def _table_edges(spark, target: str) -> set[tuple[str | None, str | None, str]]:
    rows = spark.sql(f"""SELECT source_table_full_name, source_type, target_type FROM system.access.table_lineage
                         WHERE target_table_full_name = '{target}'""").collect()
    return {(r[0], r[1], r[2]) for r in rows}


def _column_edges(spark, target: str) -> set[tuple[str, str, str]]:
    rows = spark.sql(f"""SELECT source_table_full_name, source_column_name, target_column_name
                         FROM system.access.column_lineage WHERE target_table_full_name = '{target}'""").collect()
    return {(r[0], r[1], r[2]) for r in rows}


@pytest.fixture(scope="module")
def lineage_schema(spark) -> Iterator[str]:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.lin")
    spark.sql("CREATE OR REPLACE TABLE main.lin.orders (id INT, customer STRING, amount DOUBLE)")
    spark.sql("CREATE OR REPLACE TABLE main.lin.customers (customer STRING, region STRING)")
    spark.sql("INSERT INTO main.lin.orders VALUES (1, 'a', 10.0), (2, 'b', 20.0)")
    spark.sql("INSERT INTO main.lin.customers VALUES ('a', 'US'), ('b', 'EU')")
    yield "main.lin"
    spark.sql("DROP SCHEMA IF EXISTS main.lin CASCADE")


def test_ctas_with_join_cte_and_aggregate(spark, lineage_schema: str) -> None:
    spark.sql("""CREATE OR REPLACE TABLE main.lin.by_region AS
        WITH o AS (SELECT customer, amount * 2 AS doubled FROM main.lin.orders)
        SELECT c.region, sum(o.doubled) AS total FROM o JOIN main.lin.customers c ON o.customer = c.customer
        GROUP BY c.region""")
    _drain(spark)
    assert _table_edges(spark, "main.lin.by_region") == {
        ("main.lin.orders", "TABLE", "TABLE"), ("main.lin.customers", "TABLE", "TABLE")}
    assert _column_edges(spark, "main.lin.by_region") == {
        ("main.lin.customers", "region", "region"), ("main.lin.orders", "amount", "total")}
    row = spark.sql("""SELECT * FROM system.access.table_lineage
                       WHERE target_table_full_name = 'main.lin.by_region' LIMIT 1""").first()
    assert (row.target_table_catalog, row.target_table_schema, row.target_table_name) == ("main", "lin", "by_region")
    assert row.event_time is not None and row.event_date == row.event_time.date()
    assert row.statement_id and row.created_by and row.entity_type is None  # not inside a job run


def test_merge_view_and_dataframe_writes(spark, lineage_schema: str) -> None:
    spark.sql("CREATE OR REPLACE VIEW main.lin.us_customers AS SELECT * FROM main.lin.customers WHERE region = 'US'")
    spark.sql("CREATE OR REPLACE TABLE main.lin.target (id INT, who STRING, amount DOUBLE)")
    spark.sql("""MERGE INTO main.lin.target t USING (
                   SELECT o.id, upper(c.customer) AS who, o.amount FROM main.lin.orders o
                   JOIN main.lin.us_customers c ON o.customer = c.customer) s
                 ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = s.amount
                 WHEN NOT MATCHED THEN INSERT (id, who, amount) VALUES (s.id, s.who, s.amount)""")
    (spark.table("main.lin.orders").selectExpr("id + 100 AS id", "customer AS who", "amount")
     .write.mode("append").saveAsTable("main.lin.target"))
    _drain(spark)
    assert _table_edges(spark, "main.lin.target") >= {
        ("main.lin.orders", "TABLE", "TABLE"), ("main.lin.us_customers", "VIEW", "TABLE")}
    assert ("main.lin.customers", "TABLE", "TABLE") not in _table_edges(spark, "main.lin.target")
    columns = _column_edges(spark, "main.lin.target")
    assert {("main.lin.us_customers", "customer", "who"), ("main.lin.orders", "amount", "amount"),
            ("main.lin.orders", "id", "id"), ("main.lin.orders", "customer", "who")} <= columns
    ops = {r[0] for r in spark.sql("""SELECT DISTINCT statement_id FROM system.access.table_lineage
                                      WHERE target_table_full_name = 'main.lin.target'""").collect()}
    assert len(ops) == 2  # the MERGE and the append; CREATE OR REPLACE TABLE without AS SELECT reads nothing


@pytest.mark.timeout(600)  # a streaming query's start-up is slow on a loaded machine
def test_streaming_writes_record_each_micro_batch(spark, lineage_schema: str, tmp_path) -> None:
    query = (spark.readStream.table("main.lin.orders").selectExpr("id", "amount * 3 AS tripled")
             .writeStream.option("checkpointLocation", str(tmp_path / "cp")).trigger(availableNow=True)
             .toTable("main.lin.stream_out"))
    query.awaitTermination(300)
    _drain(spark)
    edges = _table_edges(spark, "main.lin.stream_out")
    assert edges and all(target == "TABLE" for _, _, target in edges)
    assert {c[1:] for c in _column_edges(spark, "main.lin.stream_out")} >= {("id", "id"), ("amount", "tripled")}


def test_system_catalog_is_read_only_and_listed(spark) -> None:
    assert {r[0] for r in spark.sql("SHOW SCHEMAS IN system").collect()} == {"access", "lakeflow"}
    assert {r[1] for r in spark.sql("SHOW TABLES IN system.lakeflow").collect()} == {
        "jobs", "job_tasks", "job_run_timeline", "job_task_run_timeline"}
    with pytest.raises(Exception, match="read-only"):
        spark.sql("CREATE TABLE system.access.mine (id INT)")


def test_audit_table_reads_python_written_events(spark, spark_workspace: Workspace) -> None:
    write_audit_event(spark_workspace, service_name="jobs", action_name="runNow", user="alice@example.com",
                      request_params={"job_id": "7"}, status_code=200, result='{"run_id": 9}',
                      source_ip="127.0.0.1", user_agent="pytest")
    write_audit_event(spark_workspace, service_name="jobs", action_name="cancel", user="bob",
                      request_params={"run_id": "9"}, status_code=403, error_message="PERMISSION_DENIED: no")
    rows = spark.sql("""SELECT action_name, user_identity.email, request_params['job_id'] AS job_id,
                               response.status_code, response.error_message, event_date, service_name
                        FROM system.access.audit WHERE user_agent = 'pytest' OR action_name = 'cancel'
                        ORDER BY event_time""").collect()
    assert [(r.action_name, r.email, r.job_id, r.status_code) for r in rows][-2:] == [
        ("runNow", "alice@example.com", "7", 200), ("cancel", "bob", None, 403)]
    assert rows[-1].error_message == "PERMISSION_DENIED: no" and rows[-1].event_date is not None
