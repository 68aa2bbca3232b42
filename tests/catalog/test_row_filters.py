"""Row filters and column masks on a real Spark + Delta session: every read path returns
filtered rows and masked values, and the policy is stored with the table in the catalog."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from lakeloom.config import Workspace

pytestmark = pytest.mark.spark

T = "main.rls.orders"
RAW = [(1, "US", "111-11-1111", 10), (2, "EU", "222-22-2222", 20), (3, "US", "333-33-3333", 30)]
VISIBLE = [(1, "US", "***-**-1111", 10), (3, "US", "***-**-3333", 30)]


@pytest.fixture(scope="module")
def secured(spark) -> Iterator[str]:  # noqa: ANN001
    """main.rls.orders with two writes (versions 1 and 2), a US-only filter and an SSN mask."""
    spark.sql("CREATE SCHEMA main.rls")
    spark.sql(f"CREATE TABLE {T} (id INT, region STRING, ssn STRING, amount INT) USING DELTA")
    spark.sql(f"INSERT INTO {T} VALUES (1, 'US', '111-11-1111', 10), (2, 'EU', '222-22-2222', 20)")
    spark.sql(f"INSERT INTO {T} VALUES (3, 'US', '333-33-3333', 30)")
    spark.sql("CREATE FUNCTION main.rls.us_only(region STRING) RETURN region = 'US'")
    spark.sql("CREATE FUNCTION main.rls.mask_ssn(ssn STRING) RETURN concat('***-**-', right(ssn, 4))")
    spark.sql(f"ALTER TABLE {T} SET ROW FILTER main.rls.us_only ON (region)")
    spark.sql(f"ALTER TABLE {T} ALTER COLUMN ssn SET MASK main.rls.mask_ssn")
    yield T
    spark.sql("DROP SCHEMA main.rls CASCADE")


def _rows(df) -> list[tuple]:  # noqa: ANN001
    return sorted(tuple(r) for r in df.collect())


def test_policy_is_stored_with_the_table(spark_workspace: Workspace, secured: str) -> None:
    from lakeloom.catalog import get_table
    from lakeloom.catalog.functions import list_functions

    entry = get_table(spark_workspace, secured)  # the Python reader, no JVM
    assert entry is not None and entry.row_filter is not None
    assert entry.row_filter["function_name"] == "main.rls.us_only"
    assert entry.row_filter["input_column_names"] == ["region"]
    assert entry.column_masks["ssn"]["function_name"] == "main.rls.mask_ssn"
    assert entry.column_masks["ssn"]["using_column_names"] == []
    functions = {f.full_name: f for f in list_functions(spark_workspace, "main", "rls")}
    assert functions["main.rls.us_only"].data_type == "BOOLEAN"
    assert functions["main.rls.us_only"].routine_definition == "region = 'US'"
    assert [p["name"] for p in functions["main.rls.mask_ssn"].parameters] == ["ssn"]


def test_sql_dataframe_and_delta_api_reads(spark, secured: str) -> None:  # noqa: ANN001
    from delta.tables import DeltaTable

    assert _rows(spark.sql(f"SELECT * FROM {secured}")) == VISIBLE
    assert _rows(spark.table(secured)) == VISIBLE
    assert _rows(spark.read.table(secured)) == VISIBLE
    assert _rows(DeltaTable.forName(spark, secured).toDF()) == VISIBLE
    assert _rows(spark.table(secured).select("ssn")) == [("***-**-1111",), ("***-**-3333",)]
    # Predicates see masked values: the raw value matches nothing, the masked one matches.
    assert spark.sql(f"SELECT * FROM {secured} WHERE ssn = '111-11-1111'").count() == 0
    assert spark.sql(f"SELECT id FROM {secured} WHERE ssn = '***-**-3333'").first().id == 3
    # ... and a filtered-out row is out whatever the query asks for.
    assert spark.sql(f"SELECT * FROM {secured} WHERE region = 'EU' OR id = 2").count() == 0
    plan = spark.sql(f"SELECT * FROM {secured}")._jdf.queryExecution().optimizedPlan().toString()
    assert "RowSecurityMarker" not in plan  # the marker is gone before planning


def test_time_travel_reads(spark, secured: str) -> None:  # noqa: ANN001
    assert _rows(spark.sql(f"SELECT * FROM {secured} VERSION AS OF 1")) == VISIBLE[:1]
    assert _rows(spark.read.option("versionAsOf", 2).table(secured)) == VISIBLE


def test_views_and_merge_sources(spark, secured: str) -> None:  # noqa: ANN001
    spark.sql(f"CREATE VIEW main.rls.orders_v AS SELECT id, ssn FROM {secured}")
    assert _rows(spark.table("main.rls.orders_v")) == [(1, "***-**-1111"), (3, "***-**-3333")]
    spark.table(secured).createOrReplaceTempView("orders_tmp")
    assert _rows(spark.sql("SELECT id FROM orders_tmp")) == [(1,), (3,)]
    spark.sql("DROP VIEW orders_tmp")
    spark.sql("CREATE TABLE main.rls.copy (id INT, ssn STRING) USING DELTA")
    merged = spark.sql(f"""MERGE INTO main.rls.copy AS t USING {secured} AS s ON t.id = s.id
                           WHEN NOT MATCHED THEN INSERT (id, ssn) VALUES (s.id, s.ssn)""").first()
    assert merged.num_inserted_rows == 2
    assert _rows(spark.table("main.rls.copy")) == [(1, "***-**-1111"), (3, "***-**-3333")]
    spark.sql(f"CREATE TABLE main.rls.ctas AS SELECT * FROM {secured}")
    assert _rows(spark.table("main.rls.ctas")) == VISIBLE  # a copy holds only what the reader saw


def test_streaming_read(spark, secured: str, tmp_path) -> None:  # noqa: ANN001
    query = (spark.readStream.table(secured).writeStream.format("delta")
             .option("checkpointLocation", str(tmp_path / "cp")).trigger(availableNow=True)
             .toTable("main.rls.stream_out"))
    query.awaitTermination(300)
    assert _rows(spark.table("main.rls.stream_out")) == VISIBLE


def test_joins_and_aggregations_see_masked_values(spark, secured: str) -> None:  # noqa: ANN001
    spark.createDataFrame([("111-11-1111", "alice"), ("***-**-3333", "masked")], "ssn STRING, who STRING") \
        .createOrReplaceTempView("people")
    joined = spark.sql(f"SELECT o.id, p.who FROM {secured} o JOIN people p ON o.ssn = p.ssn").collect()
    assert [(r.id, r.who) for r in joined] == [(3, "masked")]
    self_join = spark.sql(f"SELECT a.ssn AS x, b.ssn AS y FROM {secured} a JOIN {secured} b ON a.id = b.id")
    assert _rows(self_join) == [("***-**-1111", "***-**-1111"), ("***-**-3333", "***-**-3333")]
    agg = spark.sql(f"SELECT region, count(*) AS n, sum(amount) AS s, max(ssn) AS m FROM {secured} GROUP BY region")
    assert _rows(agg) == [("US", 2, 40, "***-**-3333")]
    df = spark.table(secured).groupBy("ssn").count().join(spark.table(secured), "ssn").select("ssn", "count")
    assert _rows(df) == [("***-**-1111", 1), ("***-**-3333", 1)]
    assert spark.sql(f"SELECT count(*) AS n FROM {secured} WHERE ssn IN (SELECT ssn FROM people)").first().n == 1
    spark.sql("DROP VIEW people")


def test_create_table_clauses_using_columns_and_drop_forms(spark, spark_workspace: Workspace, secured: str) -> None:  # noqa: ANN001
    spark.sql("CREATE FUNCTION main.rls.mask_unless_eu(ssn STRING, region STRING) RETURNS STRING "
              "RETURN IF(region = 'EU', ssn, 'hidden')")
    spark.sql("""CREATE TABLE main.rls.people (
                   id INT COMMENT 'mask this? no',
                   `ssn` STRING MASK main.rls.mask_unless_eu USING COLUMNS (region),
                   region STRING)
                 USING DELTA WITH ROW FILTER main.rls.us_only ON (region)""")
    entry = json.loads((spark_workspace.catalog_dir / "main" / "rls" / "tables" / "people.json").read_text())
    assert entry["row_filter"]["function_name"] == "main.rls.us_only"
    assert entry["column_masks"]["ssn"]["using_column_names"] == ["region"]
    spark.sql("INSERT INTO main.rls.people VALUES (1, '111', 'US'), (2, '222', 'EU')")
    assert _rows(spark.table("main.rls.people")) == [(1, "hidden", "US")]
    spark.sql("ALTER TABLE main.rls.people DROP ROW FILTER")
    assert _rows(spark.table("main.rls.people")) == [(1, "hidden", "US"), (2, "222", "EU")]
    spark.sql("ALTER TABLE main.rls.people ALTER COLUMN ssn DROP MASK")
    assert _rows(spark.table("main.rls.people")) == [(1, "111", "US"), (2, "222", "EU")]
    entry = json.loads((spark_workspace.catalog_dir / "main" / "rls" / "tables" / "people.json").read_text())
    assert "row_filter" not in entry and "column_masks" not in entry
    # A filter can take constants as well as columns.
    spark.sql("CREATE FUNCTION main.rls.region_is(region STRING, wanted STRING) RETURN region = wanted")
    spark.sql("ALTER TABLE main.rls.people SET ROW FILTER main.rls.region_is ON (region, 'EU')")
    assert _rows(spark.table("main.rls.people")) == [(2, "222", "EU")]


def test_assignment_errors(spark, secured: str) -> None:  # noqa: ANN001
    spark.sql("CREATE TABLE main.rls.errs (id INT, region STRING) USING DELTA")
    cases = {
        "ALTER TABLE main.rls.errs SET ROW FILTER main.rls.nope ON (region)":
            "ASSIGNED_ROW_FILTER_FUNCTION_NOT_FOUND.*main.rls.nope",
        "ALTER TABLE main.rls.errs SET ROW FILTER main.rls.us_only ON (region, id)":
            "ASSIGNED_ROW_FILTER_WRONG_NUMBER_OF_COLUMNS",
        "ALTER TABLE main.rls.errs SET ROW FILTER main.rls.mask_ssn ON (region)": "must return BOOLEAN",
        "ALTER TABLE main.rls.errs SET ROW FILTER main.rls.us_only ON (regoin)": "UNRESOLVED_COLUMN.*regoin",
        "ALTER TABLE main.rls.errs ALTER COLUMN region SET MASK main.rls.nope": "ASSIGNED_COLUMN_MASK_FUNCTION_NOT_FOUND",
        "ALTER TABLE main.rls.errs ALTER COLUMN region SET MASK main.rls.mask_ssn USING COLUMNS (id)":
            "ASSIGNED_COLUMN_MASK_WRONG_NUMBER_OF_COLUMNS",
        "ALTER TABLE main.rls.nope SET ROW FILTER main.rls.us_only ON (region)": "TABLE_OR_VIEW_NOT_FOUND",
        "CREATE TABLE main.rls.never (region STRING) WITH ROW FILTER main.rls.nope ON (region)":
            "ASSIGNED_ROW_FILTER_FUNCTION_NOT_FOUND",
    }
    for sql, message in cases.items():
        with pytest.raises(Exception, match=message):
            spark.sql(sql)
    assert not spark.catalog.tableExists("main.rls.never")  # nothing half-created
    assert spark.table("main.rls.errs").count() == 0  # the table is readable, no policy was stored
    # A policy whose function was dropped fails closed.
    spark.sql("CREATE FUNCTION main.rls.temp_filter(region STRING) RETURN true")
    spark.sql("ALTER TABLE main.rls.errs SET ROW FILTER main.rls.temp_filter ON (region)")
    spark.sql("DROP FUNCTION main.rls.temp_filter")
    with pytest.raises(Exception, match="temp_filter.*does not exist"):
        spark.table("main.rls.errs").collect()


SECOND = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from lakeloom.config import Workspace
    from lakeloom.runtime.spark import SparkSessionProvider

    ws = Workspace(root=Path(sys.argv[1]), settings=json.loads(sys.argv[2]))
    provider = SparkSessionProvider(ws, app_name="lakeloom-second-process")
    spark = provider.get()
    out = {"rows": sorted(list(r) for r in spark.table(sys.argv[3]).collect())}
    out["call"] = spark.sql("SELECT main.rls.mask_ssn('999-99-9999') AS m").first().m
    out["functions"] = [r.function for r in spark.sql("SHOW USER FUNCTIONS IN main.rls").collect()]
    provider.stop()
    print("RESULT " + json.dumps(out))
""")


def test_second_process_sees_functions_and_policies(spark_workspace: Workspace, secured: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SECOND, str(spark_workspace.root), json.dumps(spark_workspace.settings), secured],
        capture_output=True, text=True, timeout=600,
    )
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, proc.stderr[-3000:]
    out = json.loads(results[-1].removeprefix("RESULT "))
    assert [tuple(r) for r in out["rows"]] == VISIBLE
    assert out["call"] == "***-**-9999"
    assert {"main.rls.us_only", "main.rls.mask_ssn"} <= set(out["functions"])
