"""Auto CDC (SCD1/SCD2 with late events and deletes), expect_or_fail, legacy ``dlt`` vs ``dp``
producing the same tables, dry run, and cycles — on real Spark + Delta."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_helpers import land_json, write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.runner import PipelineUpdateFailed, UpdateOptions, run_update

pytestmark = pytest.mark.spark

CDC = {
    "src/cdc.py": """
        from pyspark import pipelines as dp

        @dp.temporary_view
        def changes():
            return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
                    .schema("id INT, name STRING, city STRING, op STRING, seq INT")
                    .load(spark.conf.get("test.landing")))

        dp.create_streaming_table("customers_scd1")
        dp.create_auto_cdc_flow(target="customers_scd1", source="changes", keys=["id"], sequence_by="seq",
                                apply_as_deletes="op = 'D'", except_column_list=["op", "seq"])

        dp.create_streaming_table("customers_scd2")
        dp.create_auto_cdc_flow(target="customers_scd2", source="changes", keys=["id"], sequence_by="seq",
                                apply_as_deletes="op = 'D'", except_column_list=["op"],
                                stored_as_scd_type=2, track_history_except_column_list=["name", "seq"])
    """,
}


def _scd2(spark) -> list[tuple]:  # noqa: ANN001
    return sorted((r.id, r.name, r.city, r["__START_AT"], r["__END_AT"])
                  for r in spark.table("main.cdc.customers_scd2").collect())


def test_auto_cdc_scd1_and_scd2_with_late_events(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    land_json(landing, "b1.json", [
        {"id": 1, "name": "Ann", "city": "Oslo", "op": "U", "seq": 1},
        {"id": 2, "name": "Bob", "city": "Rome", "op": "U", "seq": 1},
        {"id": 1, "name": "Ann", "city": "Bergen", "op": "U", "seq": 5},
        {"id": 3, "name": "Cy", "city": "Lima", "op": "U", "seq": 2},
    ])
    loaded = write_pipeline(tmp_path / "p", "cdc", CDC, configuration={"test.landing": str(landing)})
    first = run_update(spark, loaded, spark_workspace)
    assert first.datasets["customers_scd1"].inputs == ["changes"]
    scd1 = {r.id: (r.name, r.city) for r in spark.table("main.cdc.customers_scd1").collect()}
    assert scd1 == {1: ("Ann", "Bergen"), 2: ("Bob", "Rome"), 3: ("Cy", "Lima")}
    assert spark.table("main.cdc.customers_scd1").columns == ["id", "name", "city"]
    assert _scd2(spark) == sorted([(1, "Ann", "Oslo", 1, 5), (1, "Ann", "Bergen", 5, None),
                            (2, "Bob", "Rome", 1, None), (3, "Cy", "Lima", 2, None)])

    land_json(landing, "b2.json", [
        {"id": 1, "name": "Ann", "city": "Tromso", "op": "U", "seq": 3},    # late: between 1 and 5
        {"id": 2, "name": "Bobby", "city": "Rome", "op": "U", "seq": 4},   # untracked change: in place
        {"id": 3, "name": None, "city": None, "op": "D", "seq": 6},         # delete
        {"id": 1, "name": "Ann", "city": "Paris", "op": "U", "seq": 4},    # late again, older than 5
        {"id": 4, "name": "Di", "city": "Kyiv", "op": "U", "seq": 6},       # starts where 3 ended
    ])
    second = run_update(spark, loaded, spark_workspace)
    assert second.datasets["customers_scd1"].rows_written == 3  # id 1 events are older than seq 5
    scd1 = {r.id: (r.name, r.city) for r in spark.table("main.cdc.customers_scd1").collect()}
    assert scd1 == {1: ("Ann", "Bergen"), 2: ("Bobby", "Rome"), 4: ("Di", "Kyiv")}  # late events lose, 3 deleted
    assert _scd2(spark) == sorted([(1, "Ann", "Bergen", 5, None), (1, "Ann", "Oslo", 1, 3), (1, "Ann", "Paris", 4, 5),
                            (1, "Ann", "Tromso", 3, 4), (2, "Bobby", "Rome", 1, None), (3, "Cy", "Lima", 2, 6),
                            (4, "Di", "Kyiv", 6, None)])

    land_json(landing, "b3.json", [{"id": 3, "name": "Cy", "city": "Quito", "op": "U", "seq": 2},  # replayed seq
                                   {"id": 4, "name": "Di", "city": "Lviv", "op": "U", "seq": 7}])
    run_update(spark, loaded, spark_workspace)
    assert sorted(r.id for r in spark.table("main.cdc.customers_scd1").collect()) == [1, 2, 4]
    history = [row for row in _scd2(spark) if row[0] in (3, 4)]
    assert history == [(3, "Cy", "Lima", 2, 6), (4, "Di", "Kyiv", 6, 7), (4, "Di", "Lviv", 7, None)]


GUARDED = {
    "src/mv.py": """
        from pyspark import pipelines as dp

        @dp.materialized_view
        @dp.expect_or_fail("non_negative", "v >= 0")
        def guarded():
            shift = int(spark.conf.get("test.shift"))
            return spark.range(4).selectExpr("id", f"id - {shift} AS v")
    """,
}


def test_expect_or_fail_leaves_the_target_unchanged(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    ok = write_pipeline(tmp_path / "p", "guard", GUARDED, configuration={"test.shift": "0"})
    run_update(spark, ok, spark_workspace)
    before = spark.sql("DESCRIBE HISTORY main.guard.guarded").count()
    bad = write_pipeline(tmp_path / "p", "guard", GUARDED, configuration={"test.shift": "2"})
    with pytest.raises(PipelineUpdateFailed, match="expectation 'non_negative' \\(v >= 0\\) failed on 2 of 4 rows") as e:
        run_update(spark, bad, spark_workspace)
    assert e.value.result.datasets["guarded"].status == "FAILED"
    assert spark.sql("DESCRIBE HISTORY main.guard.guarded").count() == before
    assert sorted(r.v for r in spark.table("main.guard.guarded").collect()) == [0, 1, 2, 3]


DLT_STYLE = {
    "src/legacy.py": """
        import dlt
        from pyspark.sql import functions as F

        @dlt.table(comment="raw")
        def raw():
            return spark.range(10).withColumn("kind", F.when(F.col("id") % 3 == 0, "a").otherwise("b"))

        @dlt.view
        @dlt.expect_or_drop("even", "id % 2 = 0")
        def evens():
            return dlt.read("raw")

        @dlt.table
        def summary():
            return dlt.read("evens").groupBy("kind").agg(F.count("*").alias("n"))
    """,
}
DP_STYLE = {
    "src/modern.py": """
        from pyspark import pipelines as dp
        from pyspark.sql import functions as F

        @dp.materialized_view
        def summary():
            return spark.read.table("evens").groupBy("kind").agg(F.count("*").alias("n"))

        @dp.temporary_view
        @dp.expect_or_drop("even", "id % 2 = 0")
        def evens():
            return spark.read.table("raw")

        @dp.materialized_view(comment="raw")
        def raw():
            return spark.range(10).withColumn("kind", F.when(F.col("id") % 3 == 0, "a").otherwise("b"))
    """,
}


def test_dlt_and_dp_pipelines_produce_identical_tables(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    legacy = run_update(spark, write_pipeline(tmp_path / "a", "legacy", DLT_STYLE), spark_workspace)
    modern = run_update(spark, write_pipeline(tmp_path / "b", "modern", DP_STYLE), spark_workspace)
    assert legacy.order == modern.order == ["raw", "evens", "summary"]
    for table in ("raw", "summary"):
        a = sorted(spark.table(f"main.legacy.{table}").collect())
        b = sorted(spark.table(f"main.modern.{table}").collect())
        assert a == b and a
    assert spark.table("main.legacy.summary").schema == spark.table("main.modern.summary").schema
    assert {r.kind: r.n for r in spark.table("main.modern.summary").collect()} == {"a": 2, "b": 3}
    assert not spark.catalog.tableExists("main.modern.evens")  # views stay inside the pipeline


def test_dry_run_resolves_schemas_and_writes_nothing(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    files = dict(DP_STYLE)
    files["src/extra.sql"] = """
        CREATE MATERIALIZED VIEW top_kinds (CONSTRAINT some EXPECT (n > 0))
        AS SELECT kind, n FROM summary WHERE n > 1
    """
    loaded = write_pipeline(tmp_path / "d", "dry", files)
    result = run_update(spark, loaded, spark_workspace, UpdateOptions(dry_run=True))
    assert result.datasets["top_kinds"].schema == "struct<kind:string,n:bigint>"
    assert result.datasets["top_kinds"].inputs == ["summary"]
    assert not spark.catalog.databaseExists("main.dry")
    assert not (tmp_path / "d" / "storage").exists()


def test_cycles_are_reported_with_their_members(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    loaded = write_pipeline(tmp_path / "c", "cyc", {"src/c.py": """
        from pyspark import pipelines as dp

        @dp.materialized_view
        def a():
            return spark.read.table("b")

        @dp.materialized_view
        def b():
            return spark.sql("SELECT * FROM a")
    """})
    # Flows run concurrently: whichever of the two finds the cycle names it from its side.
    with pytest.raises(PipelineUpdateFailed, match="dependency cycle between datasets: (a -> b -> a|b -> a -> b)"):
        run_update(spark, loaded, spark_workspace)
