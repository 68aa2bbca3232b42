"""A pipeline over Databricks' ``samples`` catalog, as the bundle templates write one: a SQL
materialized view and a streaming table read ``samples.nyctaxi.trips``, twice (the second
update finds the read-only source unchanged)."""
from __future__ import annotations

from typing import Any

import pytest
from pipeline_helpers import write_pipeline

from lakeloom.config import Workspace
from lakeloom.pipelines.runner import run_update

pytestmark = pytest.mark.spark

SOURCES = {
    "src/zones.sql": """
        CREATE MATERIALIZED VIEW zone_fares AS
        SELECT pickup_zip, sum(fare_amount) AS total_fare, count(*) AS trips
        FROM samples.nyctaxi.trips
        GROUP BY pickup_zip
    """,
    "src/trips.py": """
        from pyspark import pipelines as dp

        @dp.table
        def trips_stream():
            return spark.readStream.table("samples.nyctaxi.trips")
    """,
}


def test_sql_view_and_streaming_table_over_samples(spark: Any, spark_workspace: Workspace,
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    loaded = write_pipeline(tmp_path_factory.mktemp("samples_pipe") / "p", "samples_pipe", SOURCES)
    expected = spark.sql("SELECT round(sum(fare_amount), 2) AS f, count(*) AS n FROM samples.nyctaxi.trips").first()
    for _ in range(2):
        run_update(spark, loaded, spark_workspace)
        got = spark.sql("SELECT round(sum(total_fare), 2) AS f, sum(trips) AS n FROM main.samples_pipe.zone_fares").first()
        assert (got.f, got.n) == (expected.f, expected.n) and expected.n == 21932
        assert spark.table("main.samples_pipe.trips_stream").count() == 21932
    spark.sql("DROP SCHEMA main.samples_pipe CASCADE")
