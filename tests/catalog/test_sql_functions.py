"""SQL UDFs stored in lakeloom's catalog (CREATE/DROP/SHOW/DESCRIBE FUNCTION, three-level calls),
on a real Spark + Delta session."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def fn_schema(spark) -> Iterator[str]:  # noqa: ANN001
    spark.sql("CREATE SCHEMA main.fn")
    spark.sql("CREATE FUNCTION main.fn.us_only(region STRING) RETURN IF(region IS NULL, false, region = 'US')")
    spark.sql(
        "CREATE FUNCTION main.fn.mask_tail(s STRING, keep INT COMMENT 'visible chars') RETURNS STRING "
        "COMMENT 'shows the last chars' RETURN concat(repeat('*', length(s) - keep), right(s, keep))"
    )
    yield "main.fn"
    spark.sql("DROP SCHEMA main.fn CASCADE")


def test_call_by_three_level_name_inside_queries(spark, fn_schema: str) -> None:  # noqa: ANN001
    row = spark.sql("SELECT main.fn.us_only('US') AS us, main.fn.us_only('EU') AS eu, "
                    "main.fn.mask_tail('123-45-6789', 4) AS m").first()
    assert (row.us, row.eu, row.m) == (True, False, "*******6789")
    # Named after the function, as on Databricks; nested in expressions and in WHERE.
    assert spark.sql("SELECT main.fn.us_only('US')").columns == ["main.fn.us_only(US)"]
    rows = spark.sql("SELECT r FROM VALUES ('US'), ('EU'), (NULL) AS t(r) WHERE main.fn.us_only(r)").collect()
    assert [r.r for r in rows] == ["US"]
    # A function calling another stored function, with a two-part name from the current catalog.
    spark.sql("CREATE FUNCTION main.fn.not_us(region STRING) RETURNS BOOLEAN RETURN NOT fn.us_only(region)")
    assert spark.sql("SELECT main.fn.not_us('EU') AS x").first().x is True


def test_stored_in_unity_catalog_shape_and_listed(spark, spark_workspace: Workspace, fn_schema: str) -> None:  # noqa: ANN001
    stored = json.loads((spark_workspace.catalog_dir / "main" / "fn" / "functions" / "mask_tail.json").read_text())
    assert stored["full_name"] == "main.fn.mask_tail" and stored["routine_body"] == "SQL"
    assert stored["data_type"] == "STRING" and stored["comment"] == "shows the last chars"
    assert [(p["name"], p["type_text"]) for p in stored["input_params"]["parameters"]] == [("s", "STRING"), ("keep", "INT")]
    assert stored["input_params"]["parameters"][1]["comment"] == "visible chars"
    user = [r.function for r in spark.sql("SHOW USER FUNCTIONS IN main.fn").collect()]
    assert {"main.fn.us_only", "main.fn.mask_tail"} <= set(user)
    assert [r.function for r in spark.sql("SHOW USER FUNCTIONS IN main.fn LIKE 'mask*'").collect()] == ["main.fn.mask_tail"]
    assert "upper" in [r.function for r in spark.sql("SHOW FUNCTIONS IN main.fn").collect()]  # system ones too
    desc = [r.function_desc for r in spark.sql("DESCRIBE FUNCTION EXTENDED main.fn.mask_tail").collect()]
    assert desc[:4] == ["Function:    main.fn.mask_tail", "Type:        SCALAR",
                        "Input:       s STRING, keep INT", "Returns:     STRING"]
    assert any(line.startswith("Body:") and "right(s, keep)" in line for line in desc)
    # Built-ins still describe themselves through Spark.
    assert "Upper" in " ".join(r.function_desc for r in spark.sql("DESCRIBE FUNCTION upper").collect())


def test_create_replace_and_drop_forms(spark, fn_schema: str) -> None:  # noqa: ANN001
    spark.sql("CREATE FUNCTION main.fn.answer() RETURNS INT RETURN 41")
    with pytest.raises(Exception, match="ROUTINE_ALREADY_EXISTS"):
        spark.sql("CREATE FUNCTION main.fn.answer() RETURNS INT RETURN 0")
    spark.sql("CREATE FUNCTION IF NOT EXISTS main.fn.answer() RETURNS INT RETURN 0")  # kept as it was
    assert spark.sql("SELECT main.fn.answer() AS a").first().a == 41
    spark.sql("CREATE OR REPLACE FUNCTION main.fn.answer() RETURN 42")
    assert spark.sql("SELECT main.fn.answer() AS a").first().a == 42
    spark.sql("DROP FUNCTION main.fn.answer")
    spark.sql("DROP FUNCTION IF EXISTS main.fn.answer")
    with pytest.raises(Exception, match="ROUTINE_NOT_FOUND"):
        spark.sql("DROP FUNCTION main.fn.answer")
    with pytest.raises(Exception, match="answer"):
        spark.sql("SELECT main.fn.answer()").collect()


def test_one_part_names_in_the_current_schema(spark, fn_schema: str) -> None:  # noqa: ANN001
    # As in a Databricks SQL file: USE CATALOG/SCHEMA, then DROP FUNCTION IF EXISTS f; CREATE FUNCTION f.
    catalog, schema = spark.catalog.currentCatalog(), spark.catalog.currentDatabase()
    spark.sql("USE main.fn")
    try:
        spark.sql("DROP FUNCTION IF EXISTS describe_it")  # not there yet: nothing to do
        with pytest.raises(Exception, match="ROUTINE_NOT_FOUND.*`main`.`fn`.`describe_it`"):
            spark.sql("DROP FUNCTION describe_it")
        spark.sql("CREATE FUNCTION describe_it(s STRING) RETURNS STRING RETURN concat('a ', s)")
        assert spark.sql("SELECT main.fn.describe_it('shop') AS d").first().d == "a shop"
        spark.sql("DROP FUNCTION IF EXISTS describe_it")
        assert "main.fn.describe_it" not in [r.function for r in spark.sql("SHOW USER FUNCTIONS IN main.fn").collect()]
    finally:
        spark.sql(f"USE `{catalog}`.`{schema}`")


def test_errors_are_clear(spark, fn_schema: str) -> None:  # noqa: ANN001
    with pytest.raises(Exception, match=r"WRONG_NUM_ARGS.*`main`.`fn`.`us_only` requires 1 parameters"):
        spark.sql("SELECT main.fn.us_only('US', 'EU')").collect()
    # The body is analysed at CREATE time: an unknown name fails there, not at the first query.
    with pytest.raises(Exception, match="UNRESOLVED_COLUMN.*regoin"):
        spark.sql("CREATE FUNCTION main.fn.typo(region STRING) RETURN regoin = 'US'")
    with pytest.raises(Exception, match="cannot be cast to the declared return type INT"):
        spark.sql("CREATE FUNCTION main.fn.bad_type(x INT) RETURNS INT RETURN array(x)")
    assert not spark.sql("SHOW USER FUNCTIONS IN main.fn LIKE 'typo|bad_type'").collect()
    with pytest.raises(Exception, match="SCHEMA_NOT_FOUND|cannot be found"):
        spark.sql("CREATE FUNCTION main.nope.f() RETURN 1")


def test_drop_schema_with_functions(spark, spark_workspace: Workspace) -> None:  # noqa: ANN001
    spark.sql("CREATE SCHEMA main.fn_drop")
    spark.sql("CREATE FUNCTION main.fn_drop.one() RETURN 1")
    with pytest.raises(Exception, match="SCHEMA_NOT_EMPTY|NonEmpty|not empty"):
        spark.sql("DROP SCHEMA main.fn_drop")
    spark.sql("DROP SCHEMA main.fn_drop CASCADE")
    assert not (spark_workspace.catalog_dir / "main" / "fn_drop").exists()
