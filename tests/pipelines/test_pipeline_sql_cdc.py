"""SQL ``CREATE TEMPORARY VIEW`` and ``AUTO CDC INTO``, legacy ``dlt.read_stream`` and Auto
Loader's ``cloudFiles.schemaLocation`` inference, in one pipeline on real Spark + Delta."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_helpers import land_json, write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.runner import run_update

pytestmark = pytest.mark.spark

SOURCES = {
    "src/raw.py": """
        import dlt

        @dlt.table
        def raw_changes():
            # No explicit schema: Auto Loader infers it and keeps it under schemaLocation.
            return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
                    .option("cloudFiles.schemaLocation", spark.conf.get("test.schemas"))
                    .option("cloudFiles.inferColumnTypes", "true")
                    .load(spark.conf.get("test.landing")))

        @dlt.table
        def changes_copy():
            return dlt.read_stream("raw_changes").select("id", "name", "seq")
    """,
    "src/cdc.sql": """
        CREATE TEMPORARY VIEW live_changes AS SELECT id, name, op, seq FROM raw_changes;

        CREATE OR REFRESH STREAMING TABLE people;

        CREATE FLOW people_cdc AS AUTO CDC INTO people
        FROM STREAM(live_changes)
        KEYS (id)
        APPLY AS DELETE WHEN op = 'D'
        SEQUENCE BY seq
        COLUMNS * EXCEPT (op, seq)
        STORED AS SCD TYPE 1;
    """,
}


def test_sql_auto_cdc_temp_view_read_stream_and_schema_location(spark, spark_workspace: Workspace,
                                                                   tmp_path: Path) -> None:
    landing, schemas = tmp_path / "landing", tmp_path / "schemas"
    land_json(landing, "1.json", [{"id": 1, "name": "Ann", "op": "U", "seq": 1},
                                  {"id": 2, "name": "Bob", "op": "U", "seq": 1},
                                  {"id": 1, "name": "Anna", "op": "U", "seq": 3}])
    loaded = write_pipeline(tmp_path / "p", "sqlcdc", SOURCES,
                            configuration={"test.landing": str(landing), "test.schemas": str(schemas)})
    first = run_update(spark, loaded, spark_workspace)
    people = {r.id: r.name for r in spark.table("main.sqlcdc.people").collect()}
    assert people == {1: "Anna", 2: "Bob"}
    assert spark.table("main.sqlcdc.people").columns == ["id", "name"]
    assert not spark.catalog.tableExists("main.sqlcdc.live_changes")  # a temporary view stays private
    assert first.datasets["changes_copy"].inputs == ["raw_changes"]
    assert spark.table("main.sqlcdc.changes_copy").count() == 3
    assert any(schemas.rglob("*")), "Auto Loader kept no inferred schema under cloudFiles.schemaLocation"
    assert dict(spark.table("main.sqlcdc.raw_changes").dtypes)["id"] in ("bigint", "int")

    land_json(landing, "2.json", [{"id": 2, "name": "Bob", "op": "D", "seq": 2},
                                  {"id": 1, "name": "Old", "op": "U", "seq": 2}])  # late: loses to seq 3
    run_update(spark, loaded, spark_workspace)
    assert {r.id: r.name for r in spark.table("main.sqlcdc.people").collect()} == {1: "Anna"}
    assert spark.table("main.sqlcdc.changes_copy").count() == 5  # only the new file was read
