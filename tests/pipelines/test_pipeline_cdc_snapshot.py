"""Auto CDC from snapshot (``create_auto_cdc_from_snapshot_flow`` / legacy
``apply_changes_from_snapshot``): periodic snapshots of a table, historical snapshots from a
function, SCD types 1 and 2, and full refresh — on real Spark + Delta."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline_helpers import write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.runner import PipelineUpdateFailed, UpdateOptions, run_update

pytestmark = pytest.mark.spark

SCHEMA = "order_id INT, status STRING, price INT"

PERIODIC = {
    "src/orders.py": """
        from pyspark import pipelines as dp

        dp.create_streaming_table("orders_scd1")
        dp.create_auto_cdc_from_snapshot_flow(target="orders_scd1", source="main.snapsrc.orders", keys=["order_id"])

        @dp.temporary_view
        def current_orders():
            return spark.read.table("main.snapsrc.orders")

        dp.create_streaming_table("orders_scd2")
        dp.create_auto_cdc_from_snapshot_flow(target="orders_scd2", source="current_orders", keys=["order_id"],
                                              stored_as_scd_type=2)
    """,
    "src/counts.sql": """
        CREATE OR REFRESH MATERIALIZED VIEW status_counts AS
        SELECT status, count(*) AS n FROM orders_scd1 GROUP BY status
    """,
}


def _write_source(spark, rows: list[tuple]) -> None:  # noqa: ANN001
    spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("overwrite").saveAsTable("main.snapsrc.orders")


def _rows(spark, table: str, *cols: str) -> list[tuple]:  # noqa: ANN001
    return sorted(tuple(r[c] for c in cols) for r in spark.table(table).collect())


def test_periodic_snapshots_of_a_table(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.snapsrc")
    _write_source(spark, [(1, "pending", 10), (2, "pending", 20), (3, "shipped", 30)])
    loaded = write_pipeline(tmp_path / "p", "snap", PERIODIC)
    first = run_update(spark, loaded, spark_workspace)
    assert first.datasets["orders_scd1"].rows_written == 3
    assert first.datasets["status_counts"].inputs == ["orders_scd1"]
    assert first.datasets["orders_scd2"].inputs == ["current_orders"]
    assert _rows(spark, "main.snap.orders_scd1", "order_id", "status", "price") == [
        (1, "pending", 10), (2, "pending", 20), (3, "shipped", 30)]
    assert spark.table("main.snap.orders_scd1").columns == ["order_id", "status", "price"]
    scd2 = spark.table("main.snap.orders_scd2")
    assert dict(scd2.dtypes)["__START_AT"] == "timestamp" and dict(scd2.dtypes)["__END_AT"] == "timestamp"
    (v1,) = {r["__START_AT"] for r in scd2.collect()}
    assert all(r["__END_AT"] is None for r in scd2.collect())

    # order 2 ships, order 3 disappears, order 4 arrives; order 1 is unchanged
    _write_source(spark, [(1, "pending", 10), (2, "shipped", 20), (4, "pending", 40)])
    second = run_update(spark, loaded, spark_workspace)
    assert second.datasets["orders_scd1"].rows_written == 3  # one update, one delete, one insert
    assert _rows(spark, "main.snap.orders_scd1", "order_id", "status", "price") == [
        (1, "pending", 10), (2, "shipped", 20), (4, "pending", 40)]
    history = _rows(spark, "main.snap.orders_scd2", "order_id", "status", "__START_AT", "__END_AT")
    (v2,) = {r[2] for r in history if r[0] == 4}
    assert v2 > v1
    assert history == sorted([(1, "pending", v1, None), (2, "pending", v1, v2), (2, "shipped", v2, None),
                              (3, "shipped", v1, v2), (4, "pending", v2, None)])
    assert _rows(spark, "main.snap.status_counts", "status", "n") == [("pending", 2), ("shipped", 1)]

    # an unchanged snapshot changes nothing
    third = run_update(spark, loaded, spark_workspace)
    assert third.datasets["orders_scd1"].rows_written == 0 and third.datasets["orders_scd2"].rows_written == 0
    assert _rows(spark, "main.snap.orders_scd2", "order_id", "status", "__START_AT", "__END_AT") == history


HISTORICAL = {
    "src/orders.py": """
        import os
        from pyspark import pipelines as dp

        ROOT = spark.conf.get("test.snapshots")

        def next_snapshot_and_version(latest_version):
            version = 1 if latest_version is None else latest_version + 1
            path = os.path.join(ROOT, str(version))
            if not os.path.isdir(path):
                return None
            return spark.read.parquet(path), version

        dp.create_streaming_table("orders_hist")
        dp.create_auto_cdc_from_snapshot_flow(target="orders_hist", source=next_snapshot_and_version,
                                              keys=["order_id"], stored_as_scd_type=2,
                                              track_history_column_list=["status"])
    """,
}


def _snapshot(spark, root: Path, version: int, rows: list[tuple]) -> None:  # noqa: ANN001
    spark.createDataFrame(rows, SCHEMA).write.mode("overwrite").parquet(str(root / str(version)))


def test_historical_snapshots_from_a_function_in_version_order(spark, spark_workspace: Workspace,
                                                               tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    _snapshot(spark, root, 1, [(1, "pending", 10), (2, "pending", 20)])
    _snapshot(spark, root, 2, [(1, "shipped", 10), (2, "pending", 25), (3, "pending", 30)])  # 2: untracked change
    _snapshot(spark, root, 3, [(1, "shipped", 10), (3, "delivered", 30)])                    # 2 deleted
    loaded = write_pipeline(tmp_path / "p", "hist", HISTORICAL, configuration={"test.snapshots": str(root)})
    run_update(spark, loaded, spark_workspace)
    cols = ("order_id", "status", "price", "__START_AT", "__END_AT")
    assert dict(spark.table("main.hist.orders_hist").dtypes)["__START_AT"] == "bigint"
    assert _rows(spark, "main.hist.orders_hist", *cols) == sorted([
        (1, "pending", 10, 1, 2), (1, "shipped", 10, 2, None),
        (2, "pending", 25, 1, 3),                              # price changed in place, closed when it vanished
        (3, "pending", 30, 2, 3), (3, "delivered", 30, 3, None)])

    # the next update continues after version 3; order 2 comes back
    _snapshot(spark, root, 4, [(1, "shipped", 10), (2, "pending", 21), (3, "delivered", 30)])
    result = run_update(spark, loaded, spark_workspace)
    assert result.datasets["orders_hist"].rows_written == 1
    assert (2, "pending", 21, 4, None) in _rows(spark, "main.hist.orders_hist", *cols)
    assert run_update(spark, loaded, spark_workspace).datasets["orders_hist"].rows_written == 0

    # a full refresh starts again from the first snapshot
    run_update(spark, loaded, spark_workspace, UpdateOptions(full_refresh=True))
    rows = _rows(spark, "main.hist.orders_hist", *cols)
    assert (1, "pending", 10, 1, 2) in rows and (2, "pending", 21, 4, None) in rows and len(rows) == 6


LEGACY = {
    "src/orders.py": """
        import dlt

        VERSIONS = {"2024-01-01 10": [(1, "a"), (2, "b")], "2024-01-01 11": [(2, "c")]}

        def next_snapshot_and_version(latest):
            later = sorted(v for v in VERSIONS if latest is None or v > latest)
            if not later:
                return None
            v = later[0]
            return spark.createDataFrame(VERSIONS[v], "id INT, val STRING"), v

        dlt.create_streaming_table(name="legacy")
        dlt.apply_changes_from_snapshot(target="legacy", snapshot_and_version=next_snapshot_and_version, keys=["id"],
                                        stored_as_scd_type=1)

        dlt.create_streaming_table(name="pair")
        dlt.apply_changes_from_snapshot(target="pair",
                                        snapshot_and_version=(spark.createDataFrame([(7, "x")], "id INT, val STRING"),
                                                              int(spark.conf.get("test.version"))),
                                        keys=["id"], stored_as_scd_type=2)
    """,
}


def test_legacy_dlt_apply_changes_from_snapshot(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    loaded = write_pipeline(tmp_path / "p", "legacysnap", LEGACY, configuration={"test.version": "5"})
    run_update(spark, loaded, spark_workspace)
    assert _rows(spark, "main.legacysnap.legacy", "id", "val") == [(2, "c")]
    assert _rows(spark, "main.legacysnap.pair", "id", "val", "__START_AT", "__END_AT") == [(7, "x", 5, None)]
    assert dict(spark.table("main.legacysnap.legacy").dtypes) == {"id": "int", "val": "string"}
    # the same pair again is applied already: nothing happens
    assert run_update(spark, loaded, spark_workspace).datasets["pair"].rows_written == 0


BAD = {
    "src/orders.py": """
        from pyspark import pipelines as dp

        def shrinking(latest):
            if latest is None:
                return spark.range(2).selectExpr("id % 1 AS id"), 1  # two rows for id 0
            return spark.range(1).selectExpr("id"), 0                # a version that falls back

        dp.create_streaming_table("dups")
        dp.create_auto_cdc_from_snapshot_flow(target="dups", source=shrinking, keys=["id"])
    """,
}


def test_duplicate_keys_and_falling_versions_fail_the_flow_by_name(spark, spark_workspace: Workspace,
                                                                   tmp_path: Path) -> None:
    loaded = write_pipeline(tmp_path / "p", "badsnap", BAD)
    with pytest.raises(PipelineUpdateFailed) as info:
        run_update(spark, loaded, spark_workspace)
    message = info.value.result.datasets["dups"].error
    assert "dups" in message and "has 2 rows for key {'id': 0}" in message
    assert not spark.catalog.tableExists("main.badsnap.dups")  # nothing was written

    bad = write_pipeline(tmp_path / "p2", "badsnap2", {"src/orders.py": BAD["src/orders.py"].replace(
        "spark.range(2).selectExpr(\"id % 1 AS id\")", "spark.range(1).selectExpr(\"id\")")})
    with pytest.raises(PipelineUpdateFailed) as info:
        run_update(spark, bad, spark_workspace)
    message = info.value.result.datasets["dups"].error
    assert "returned version 0, which is not greater than the last processed version 1" in message
    assert [r.id for r in spark.table("main.badsnap2.dups").collect()] == [0]  # version 1 stays applied


def test_versions_round_trip_as_json(tmp_path: Path) -> None:
    from decimal import Decimal

    from lakeloom.pipelines.cdc_snapshot import load_version, save_version

    for version in (3, 2.5, "2024-01-01 10", dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5),
                    dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.timezone.utc), Decimal("1.50")):
        save_version(tmp_path, version)
        back = load_version(tmp_path)
        assert back == version and type(back) is type(version)
    with pytest.raises(TypeError, match="must be an int, float, str, date, datetime or Decimal"):
        save_version(tmp_path, [1])
