"""Materialized views refreshed from their sources' Change Data Feed (real Spark + Delta).

One pipeline, updated four times: the first build, new input (appends), deletes and updates
made to the source table, and no change. After every update each view must hold exactly
what a full recompute gives (the views are then recomputed with a full refresh of the
views only and compared row for row), and the event log must say how each was refreshed.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline_helpers import land_json, write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.eventlog import read_events
from lakeloom.pipelines.mv_state import local_dir
from lakeloom.pipelines.runner import UpdateOptions, run_update

pytestmark = pytest.mark.spark

SOURCES = {
    "src/tables.py": """
        from pyspark import pipelines as dp
        from pyspark.sql import functions as F

        SCHEMA = "id BIGINT, region STRING, amount BIGINT, qty INT"

        @dp.table
        def orders():
            return spark.readStream.format("json").schema(SCHEMA).load(spark.conf.get("test.landing") + "/orders")

        @dp.table
        def regions():
            return (spark.readStream.format("json").schema("region STRING, zone STRING")
                    .load(spark.conf.get("test.landing") + "/regions"))

        @dp.materialized_view
        def big_orders():  # projection + filter
            return spark.read.table("orders").where("amount >= 50").select("id", "region", (F.col("amount") * 2).alias("a2"))

        @dp.materialized_view
        def by_region():  # combinable aggregates
            return spark.read.table("orders").groupBy("region").agg(
                F.count("*").alias("n"), F.sum("amount").alias("total"), F.min("amount").alias("low"),
                F.max("qty").alias("most"))

        @dp.materialized_view
        def zoned():  # inner join of two tracked tables
            return spark.read.table("orders").join(spark.read.table("regions"), "region").select("id", "zone", "amount")

        @dp.materialized_view
        def sampled():  # non-deterministic: always recomputed
            return spark.read.table("orders").where(F.rand(7) < 2.0).select("id")
    """,
    "src/gold.sql": """
        CREATE MATERIALIZED VIEW region_avg AS
        SELECT region, avg(amount) AS mean, count(DISTINCT qty) AS qtys
        FROM orders WHERE amount > 0 GROUP BY region;

        CREATE MATERIALIZED VIEW zone_totals AS
        SELECT zone, sum(amount) AS total FROM zoned GROUP BY zone;

        CREATE MATERIALIZED VIEW busy_regions AS
        SELECT region, n FROM by_region WHERE n > 3;
    """,
}
VIEWS = ["big_orders", "by_region", "zoned", "sampled", "region_avg", "zone_totals", "busy_regions"]


def _orders(start: int, n: int) -> list[dict]:
    return [{"id": start + i, "region": ["emea", "amer", "apac", None][i % 4], "amount": (i * 37) % 100,
             "qty": i % 5} for i in range(n)]


def _techniques(storage: Path, update_id: str) -> dict[str, str]:
    out = {}
    for e in read_events(storage):
        if e["update_id"] == update_id and e["event_type"] == "planning_information":
            info = json.loads(e["details"])["planning_information"]["technique_information"]
            out[e["dataset"]] = next(t["maintenance_type"] for t in info if t["is_chosen"]).removeprefix(
                "MAINTENANCE_TYPE_")
    return out


def _last_operation(spark, name: str) -> str:  # noqa: ANN001
    return spark.sql(f"DESCRIBE HISTORY main.incmv.{name} LIMIT 1").first().operation


def _contents(spark, name: str) -> Counter:  # noqa: ANN001
    return Counter(tuple(r) for r in spark.table(f"main.incmv.{name}").collect())


@pytest.fixture(scope="module")
def pipeline(spark, spark_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("incmv")
    landing = root / "landing"
    land_json(landing / "orders", "a.json", _orders(0, 40))
    land_json(landing / "regions", "a.json", [{"region": "emea", "zone": "east"}, {"region": "amer", "zone": "west"},
                                              {"region": "apac", "zone": "east"}])
    loaded = write_pipeline(root / "p", "incmv", SOURCES, configuration={"test.landing": str(landing)})
    updates = [run_update(spark, loaded, spark_workspace)]
    return loaded, landing, root / "p" / "storage", updates


def _assert_equals_full_recompute(spark, spark_workspace: Workspace, loaded) -> None:  # noqa: ANN001
    incremental = {v: _contents(spark, v) for v in VIEWS}
    run_update(spark, loaded, spark_workspace, UpdateOptions(full_refresh_selection=VIEWS))
    for v in VIEWS:
        assert _contents(spark, v) == incremental[v], f"{v} differs from its full recompute"


def test_first_update_recomputes_and_enables_the_change_feed(spark, pipeline) -> None:  # noqa: ANN001
    _, _, storage, updates = pipeline
    assert set(_techniques(storage, updates[0].update_id).values()) == {"COMPLETE_RECOMPUTE"}
    props = {r.key: r.value for r in spark.sql("SHOW TBLPROPERTIES main.incmv.orders").collect()}
    assert props["delta.enableChangeDataFeed"] == "true"
    assert _contents(spark, "by_region")[("emea", 10, sum((i * 37) % 100 for i in range(0, 40, 4)), 0, 4)] == 1


def test_appends_refresh_views_incrementally(spark, spark_workspace: Workspace, pipeline) -> None:  # noqa: ANN001
    loaded, landing, storage, _ = pipeline
    land_json(landing / "orders", "b.json", _orders(100, 12))
    land_json(landing / "regions", "b.json", [{"region": "latam", "zone": "south"}])
    land_json(landing / "orders", "c.json", [{"id": 999, "region": "latam", "amount": 70, "qty": 9}])
    second = run_update(spark, loaded, spark_workspace)
    assert _techniques(storage, second.update_id) == {
        "big_orders": "APPEND_ONLY", "by_region": "INCREMENTAL_AGGREGATE", "zoned": "APPEND_ONLY",
        "sampled": "COMPLETE_RECOMPUTE", "region_avg": "GROUP_AGGREGATE", "zone_totals": "INCREMENTAL_AGGREGATE",
        "busy_regions": "ROW_BASED"}
    # by_region's changes were merged (busy_regions reads its change feed); zone_totals, read by
    # no other view, was rewritten with its combined groups in one overwrite.
    assert _last_operation(spark, "by_region") == "MERGE"
    assert _last_operation(spark, "zone_totals") == "WRITE"
    # The state kept for the next refresh: the plan's analysis and the tables' locations (no
    # re-analysis, no DESCRIBE DETAIL while they hold).
    state = json.loads((storage / "mv_state" / "by_region.json").read_text())
    assert state["shape"]["kind"] == "aggregate" and state["shape"]["source_keys"] == ["region"]
    detail = spark.sql("DESCRIBE DETAIL main.incmv.orders").first()
    assert state["tables"]["main.incmv.orders"] == [str(local_dir(detail.location)), True]
    sampled = [e for e in read_events(storage) if e["update_id"] == second.update_id
               and e["event_type"] == "planning_information" and e["dataset"] == "sampled"][0]
    assert "non-deterministic expression" in sampled["message"]
    assert (999, "south", 70) in _contents(spark, "zoned")
    _assert_equals_full_recompute(spark, spark_workspace, loaded)


def test_deletes_and_updates_refresh_by_rows_and_groups(spark, spark_workspace: Workspace,
                                                        pipeline) -> None:  # noqa: ANN001
    loaded, _, storage, _ = pipeline
    spark.sql("DELETE FROM main.incmv.orders WHERE region = 'apac' OR id = 999")
    spark.sql("UPDATE main.incmv.orders SET amount = amount + 1, region = 'emea' WHERE id IN (1, 5, 101)")
    third = run_update(spark, loaded, spark_workspace)
    techniques = _techniques(storage, third.update_id)
    assert techniques["big_orders"] == "ROW_BASED"
    assert techniques["by_region"] == "GROUP_AGGREGATE"
    assert techniques["region_avg"] == "GROUP_AGGREGATE"
    assert techniques["zoned"] == "COMPLETE_RECOMPUTE"  # deletes in one side of a join
    assert "apac" not in {r[0] for r in _contents(spark, "by_region")}  # the vanished group is gone
    _assert_equals_full_recompute(spark, spark_workspace, loaded)


def test_no_change_writes_nothing(spark, spark_workspace: Workspace, pipeline) -> None:  # noqa: ANN001
    loaded, _, storage, _ = pipeline
    before = spark.sql("DESCRIBE HISTORY main.incmv.by_region LIMIT 1").first().version
    fourth = run_update(spark, loaded, spark_workspace)
    techniques = _techniques(storage, fourth.update_id)
    assert {v: techniques[v] for v in ("big_orders", "by_region", "zoned", "region_avg")} == dict.fromkeys(
        ("big_orders", "by_region", "zoned", "region_avg"), "NO_OP")
    assert spark.sql("DESCRIBE HISTORY main.incmv.by_region LIMIT 1").first().version == before
