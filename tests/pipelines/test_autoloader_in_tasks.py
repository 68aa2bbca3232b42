"""Databricks file readers outside pipelines: Auto Loader (``readStream.format("cloudFiles")``)
in an ordinary script task (volume paths, a persisted schema, an incremental second run) and
the ``read_files(...)`` table function in plain ``spark.sql``."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lakeloom.config import Workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager

pytestmark = pytest.mark.spark

SCRIPT = """
import sys
from databricks.sdk.runtime import spark

target = sys.argv[1]
q = (spark.readStream.format("cloudFiles")
     .option("cloudFiles.format", "json")
     .option("cloudFiles.inferColumnTypes", "true")
     .option("cloudFiles.schemaLocation", "/Volumes/main/al/meta/orders_schema")
     .load("/Volumes/main/al/landing/orders")
     .writeStream.option("checkpointLocation", "/Volumes/main/al/meta/orders_checkpoint")
     .trigger(availableNow=True).toTable(target))
q.awaitTermination()
print("rows", spark.table(target).count())
"""


@pytest.fixture(scope="module", autouse=True)
def volumes(spark) -> Iterator[None]:  # noqa: ANN001
    """The volumes the code reads and writes: created first, as on Databricks."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.al")
    for name in ("landing", "meta", "csv_in"):
        spark.sql(f"CREATE VOLUME IF NOT EXISTS main.al.{name}")
    yield
    spark.sql("DROP SCHEMA main.al CASCADE")


def _land(ws: Workspace, name: str, ids: list[int]) -> None:
    folder = ws.volumes_root / "main" / "al" / "landing" / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps({"id": i, "amount": i * 1.5}) + "\n" for i in ids))


def test_auto_loader_in_a_script_task_is_incremental(spark, spark_workspace: Workspace,  # noqa: ANN001
                                                      tmp_path: Path) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.al_bronze")
    (tmp_path / "ingest.py").write_text(SCRIPT)
    job = tmp_path / "job.yml"
    job.write_text(yaml.safe_dump({"name": "autoloader", "tasks": [{"task_key": "ingest", "spark_python_task": {
        "python_file": "ingest.py", "parameters": ["main.al_bronze.orders"]}}]}))
    ws = spark_workspace  # the session's workspace: Spark and the task map /Volumes to the same folders
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))

    _land(ws, "a.json", [1, 2, 3])
    first = engine.submit(str(job))
    assert first["state"]["result_state"] == "SUCCESS", first["state"]
    schema_file = ws.volumes_root / "main" / "al" / "meta" / "orders_schema" / "_schemas" / "schema.json"
    fields = [f["name"] for f in json.loads(schema_file.read_text())["fields"]]
    assert fields == ["amount", "id", "_rescued_data"]

    _land(ws, "b.json", [4, 5])
    second = engine.submit(str(job))
    assert second["state"]["result_state"] == "SUCCESS", second["state"]
    rows = spark.table("main.al_bronze.orders")
    assert sorted(r.id for r in rows.collect()) == [1, 2, 3, 4, 5]  # b.json once, a.json not again
    history = spark.sql("DESCRIBE HISTORY main.al_bronze.orders").collect()
    assert sorted(r.version for r in history if r.operation == "STREAMING UPDATE")[-2:] == [1, 2]
    assert dict(rows.dtypes)["id"] == "bigint"  # inferColumnTypes
    spark.sql("DROP SCHEMA main.al_bronze CASCADE")


def test_read_files_in_sql_outside_pipelines(spark, spark_workspace, tmp_path: Path) -> None:  # noqa: ANN001
    folder = spark_workspace.volumes_root / "main" / "al" / "csv_in"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text("id,name\n1,a\n2,b\n")
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.al_files")
    spark.sql("CREATE OR REPLACE TABLE main.al_files.people AS "
              "SELECT * FROM read_files('/Volumes/main/al/csv_in', format => 'csv', header => true) WHERE id > :min",
              args={"min": 0})
    rows = spark.table("main.al_files.people").orderBy("id").collect()
    assert [(r.id, r.name) for r in rows] == [(1, "a"), (2, "b")]  # header used, types inferred
    # _metadata works through read_files as on Databricks, and SELECT * does not return it
    with_file = spark.sql("SELECT *, _metadata.file_name AS source FROM read_files('/Volumes/main/al/csv_in', "
                          "format => 'csv', header => true)")
    assert with_file.columns == ["id", "name", "source"]
    assert {r.source for r in with_file.collect()} == {"a.csv"}
    # 'read_files(' inside a string literal is text, not a call.
    assert spark.sql("SELECT 'read_files(x)' AS s").first().s == "read_files(x)"
    spark.sql("DROP SCHEMA main.al_files CASCADE")
