"""``COPY INTO`` on Delta tables: parsing, idempotent loads, ``force``, a SELECT transform,
column matching by name, and clear errors."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from lakeloom.config import Workspace
from lakeloom.runtime.copy_into import CopyIntoError, is_copy_into, parse_copy_into


def test_parse_every_clause() -> None:
    spec = parse_copy_into("""-- load
        COPY INTO main.raw.`people` BY POSITION FROM (SELECT id, upper(name) AS name FROM '/Volumes/m/r/l')
        FILEFORMAT = csv PATTERN = '*.csv'
        FORMAT_OPTIONS ('header' = 'true', 'sep' = ';') COPY_OPTIONS ('mergeSchema' = 'true', force = true);""")
    assert (spec.target, spec.path, spec.file_format, spec.pattern) == ("main.raw.`people`", "/Volumes/m/r/l", "csv", "*.csv")
    assert spec.select == "id, upper(name) AS name"
    assert spec.format_options == {"header": "true", "sep": ";"}
    assert spec.copy_options == {"mergeSchema": "true", "force": "true"}
    assert is_copy_into("/* x */ copy into t from 'p' fileformat = json") and not is_copy_into("SELECT 'COPY INTO'")
    with pytest.raises(CopyIntoError, match="FILES is not supported"):
        parse_copy_into("COPY INTO t FROM '/p' FILEFORMAT = JSON FILES = ('a.json')")
    with pytest.raises(CopyIntoError, match="expected COPY INTO <table> FROM"):
        parse_copy_into("COPY INTO t FROM '/p'")


@pytest.fixture
def people(spark) -> Iterator[str]:  # noqa: ANN001
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.copy_into")
    spark.sql("CREATE VOLUME IF NOT EXISTS main.copy_into.landing")
    spark.sql("CREATE OR REPLACE TABLE main.copy_into.people (id BIGINT, name STRING, city STRING)")
    yield "main.copy_into.people"
    spark.sql("DROP SCHEMA main.copy_into CASCADE")


def _counts(spark, sql: str) -> tuple[int, int]:  # noqa: ANN001
    row = spark.sql(sql).first()
    return row.num_affected_rows, row.num_inserted_rows


@pytest.mark.spark
def test_copy_into_loads_each_file_once(spark, spark_workspace: Workspace, people: str) -> None:  # noqa: ANN001
    landing = spark_workspace.volumes_root / "main" / "copy_into" / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "p1.csv").write_text("ID,name\n1,a\n2,b\n")
    (landing / "skip.txt").write_text("not,csv\n")
    copy = (f"COPY INTO {people} FROM '/Volumes/main/copy_into/landing' FILEFORMAT = CSV PATTERN = '*.csv' "
            "FORMAT_OPTIONS ('header' = 'true')")
    assert _counts(spark, copy) == (2, 2)
    assert _counts(spark, copy) == (0, 0)  # nothing new: nothing loaded again
    (landing / "p2.csv").write_text("id,name\n3,c\n")
    assert _counts(spark, copy) == (1, 1)
    rows = spark.table(people).orderBy("id").collect()
    assert [(r.id, r.name, r.city) for r in rows] == [(1, "a", None), (2, "b", None), (3, "c", None)]

    forced = copy.replace("FORMAT_OPTIONS ('header' = 'true')",
                          "FORMAT_OPTIONS ('header' = 'true') COPY_OPTIONS ('force' = 'true')")
    select = forced.replace("FROM '/Volumes/main/copy_into/landing'",
                            "FROM (SELECT id, upper(name) AS name FROM '/Volumes/main/copy_into/landing')")
    assert _counts(spark, select) == (3, 3)  # force: every file again, through the SELECT
    assert sorted(r.name for r in spark.table(people).collect()) == ["A", "B", "C", "a", "b", "c"]

    (landing / "p3.csv").write_text("id,name,extra\n4,d,x\n")
    with pytest.raises(CopyIntoError, match=r"columns the table lacks \(extra\)"):
        spark.sql(copy).collect()
    merged = copy.replace("FORMAT_OPTIONS ('header' = 'true')",
                          "FORMAT_OPTIONS ('header' = 'true') COPY_OPTIONS ('mergeSchema' = 'true')")
    spark.sql(merged).collect()
    assert "extra" in spark.table(people).columns
