"""Task errors caused by a Databricks-only piece say which piece it is."""
from __future__ import annotations

from lakeloom.runtime.cloud_hints import with_cloud_hint


def test_sample_catalog_and_datasets_are_named_as_cloud_only() -> None:
    spark_error = ("AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The table or view `samples`.`bakehouse`.`sales` "
                   "cannot be found.")
    hinted = with_cloud_hint(spark_error)
    assert hinted.startswith(spark_error)
    assert "(cloud-only: lakeloom's `samples` catalog has generated stand-ins for nyctaxi and tpch only" in hinted
    # nyctaxi and tpch are served locally (lakeloom.catalog.samples_conf): their errors get no cloud hint.
    assert with_cloud_hint("[TABLE_OR_VIEW_NOT_FOUND] `samples`.`nyctaxi`.`zones`").endswith("`zones`")
    assert "cloud-only: /databricks-datasets" in with_cloud_hint(
        "Path does not exist: dbfs:/databricks-datasets/nyctaxi/tripdata")
    assert "model serving" in with_cloud_hint("[UNRESOLVED_ROUTINE] Cannot resolve routine `ai_query`")
    # Databricks' metric_view example writes `version: 1.0`; Spark 4.2 reads version 0.1 only
    for spark_error in ("[INVALID_METRIC_VIEW_YAML] Failed to parse metric view YAML: Invalid YAML version: 1.0",
                        '[INVALID_METRIC_VIEW_YAML] Failed to parse metric view YAML: Failed to parse YAML: '
                        'Unrecognized field "comment" (class org.apache.spark.sql.metricview.serde.ColumnV01)'):
        assert "(cloud-only: metric views run on Apache Spark's own support here, which reads the YAML of " \
               "version 0.1" in with_cloud_hint(spark_error)


def test_other_errors_are_left_alone() -> None:
    for text in ("ValueError: bad input", "[TABLE_OR_VIEW_NOT_FOUND] `main`.`samples_copy`.`trips`"):
        assert with_cloud_hint(text) == text


def test_system_tables_lakeloom_does_not_serve_are_named_as_cloud_only() -> None:
    # System-Tables-Demo's queries: system.query.history and system.billing.usage next to the
    # system.access / system.lakeflow tables lakeloom serves.
    hinted = with_cloud_hint("AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The table or view "
                             "`system`.`query`.`history` cannot be found.")
    assert "(cloud-only: system.query.history is a Databricks system table that only a Databricks workspace " \
           "fills; lakeloom serves system.access.{audit,column_lineage,table_lineage}, system.lakeflow." \
           "{job_run_timeline,job_task_run_timeline,job_tasks,jobs}" in hinted
    assert "system.billing.usage is a Databricks" in with_cloud_hint(
        "dashboard 'x': dataset 'a' ([TABLE_OR_VIEW_NOT_FOUND] The table or view `system`.`billing`.`usage` ...)")
    served = "[TABLE_OR_VIEW_NOT_FOUND] The table or view `system`.`lakeflow`.`jobs` cannot be found."
    assert with_cloud_hint(served) == served
