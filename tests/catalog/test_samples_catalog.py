"""The read-only ``samples`` catalog on the session's Spark: there without configuration, read by
name in batch, streaming and SQL, the same generated rows everywhere, materialized once under
concurrent first use, and refusing every change."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from lakeloom.catalog.conf import catalog_spark_conf
from lakeloom.catalog.identity import as_principal
from lakeloom.catalog.samples_conf import SAMPLES_CATALOG_CLASS, SAMPLES_TABLES, samples_cache_dir
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark

TRIPS = "samples.nyctaxi.trips"
TRIPS_SCHEMA = [("tpep_pickup_datetime", "timestamp"), ("tpep_dropoff_datetime", "timestamp"),
                ("trip_distance", "double"), ("fare_amount", "double"), ("pickup_zip", "int"), ("dropoff_zip", "int")]
# bit_xor of every row's xxhash64: the generated data itself, on any machine and time zone.
CHECKSUM_SQL = ("SELECT count(*) AS n, bit_xor(xxhash64(tpep_pickup_datetime, tpep_dropoff_datetime, trip_distance, "
                "fare_amount, pickup_zip, dropoff_zip)) AS checksum FROM {table}")
TRIPS_ROWS, TRIPS_CHECKSUM = 21932, 8603220726610427665
TPCH_LINEITEMS, TPCH_LINEITEM_CHECKSUM = 59969, 6903988187985711004
READ_ONLY = "[UC_COMMAND_NOT_SUPPORTED.WITHOUT_RECOMMENDATION]"


def test_registered_for_every_workspace_unless_it_has_its_own(tmp_path: Path) -> None:
    conf = catalog_spark_conf(Workspace(root=tmp_path, settings={}), build=False)
    assert conf["spark.sql.catalog.samples"] == SAMPLES_CATALOG_CLASS
    assert conf["spark.sql.catalog.samples.cache-dir"] == str(samples_cache_dir().resolve())
    own = catalog_spark_conf(Workspace(root=tmp_path, settings={"catalog": {"catalogs": ["main", "samples"]}}),
                             build=False)
    assert own["spark.sql.catalog.samples"] != SAMPLES_CATALOG_CLASS
    # Shared storage of a cluster: the tables go where every executor sees them.
    shared = Workspace(root=tmp_path, settings={"storage": {"root": (tmp_path / "mnt lake").as_uri()}})
    assert catalog_spark_conf(shared, build=False)["spark.sql.catalog.samples.cache-dir"] == str(
        tmp_path / "mnt lake" / "samples")


def test_listed_and_read_by_name_with_databricks_schema(spark: Any) -> None:
    assert "samples" in [r.catalog for r in spark.sql("SHOW CATALOGS").collect()]
    assert [r.namespace for r in spark.sql("SHOW SCHEMAS IN samples").collect()] == sorted(SAMPLES_TABLES)
    for schema, tables in SAMPLES_TABLES.items():
        assert tuple(r.tableName for r in spark.sql(f"SHOW TABLES IN samples.{schema}").collect()) == tables
    assert spark.read.table(TRIPS).dtypes == TRIPS_SCHEMA
    row = spark.sql(CHECKSUM_SQL.format(table=TRIPS)).first()
    assert (row.n, row.checksum) == (TRIPS_ROWS, TRIPS_CHECKSUM)
    facts = spark.sql(f"""SELECT min(tpep_pickup_datetime) >= TIMESTAMP'2016-01-01 00:00:00 UTC' AS from_jan,
                                 max(tpep_pickup_datetime) < TIMESTAMP'2016-03-01 00:00:00 UTC' AS to_feb,
                                 bool_and(tpep_dropoff_datetime > tpep_pickup_datetime) AS dropoff_after,
                                 corr(trip_distance, fare_amount) AS corr,
                                 bool_and(pickup_zip BETWEEN 7000 AND 11499) AS nyc_zips
                          FROM {TRIPS}""").first()
    assert facts.from_jan and facts.to_feb and facts.dropoff_after and facts.nyc_zips and facts.corr > 0.9


def test_tpch_tables_join_on_every_key_and_hold_the_same_rows(spark: Any) -> None:
    counts = {t: spark.table(f"samples.tpch.{t}").count() for t in SAMPLES_TABLES["tpch"]}
    assert counts == {"customer": 1500, "lineitem": TPCH_LINEITEMS, "nation": 25, "orders": 15000, "part": 2000,
                      "partsupp": 8000, "region": 5, "supplier": 100}
    assert dict(spark.table("samples.tpch.lineitem").dtypes)["l_extendedprice"] == "decimal(18,2)"
    broken = spark.sql("""SELECT
        (SELECT count(*) FROM samples.tpch.lineitem l LEFT ANTI JOIN samples.tpch.partsupp ps
           ON l.l_partkey = ps.ps_partkey AND l.l_suppkey = ps.ps_suppkey) AS lines_without_supply,
        (SELECT count(*) FROM samples.tpch.orders o LEFT ANTI JOIN samples.tpch.customer c
           ON o.o_custkey = c.c_custkey) AS orders_without_customer,
        (SELECT count(*) FROM samples.tpch.supplier s LEFT ANTI JOIN samples.tpch.nation n
           ON s.s_nationkey = n.n_nationkey) AS suppliers_without_nation,
        (SELECT count(*) FROM samples.tpch.orders o JOIN (
           SELECT l_orderkey, sum(l_extendedprice * (1 + l_tax) * (1 - l_discount)) AS total
           FROM samples.tpch.lineitem GROUP BY l_orderkey) x ON o.o_orderkey = x.l_orderkey
         WHERE abs(o.o_totalprice - x.total) > 0.05) AS orders_not_their_lines_total""").first()
    assert tuple(broken) == (0, 0, 0, 0)
    checksum = spark.sql("SELECT bit_xor(xxhash64(*)) FROM samples.tpch.lineitem").first()[0]
    assert checksum == TPCH_LINEITEM_CHECKSUM


def test_streaming_read_takes_every_row(spark: Any, tmp_path: Path) -> None:
    query = (spark.readStream.table(TRIPS).writeStream.format("memory").queryName("samples_trips_stream")
             .option("checkpointLocation", str(tmp_path / "cp")).trigger(availableNow=True).start())
    try:
        query.awaitTermination()
        assert spark.table("samples_trips_stream").count() == TRIPS_ROWS
    finally:
        query.stop()
        spark.catalog.dropTempView("samples_trips_stream")


def test_first_use_from_several_threads_materializes_once_the_same_rows(spark: Any, tmp_path: Path) -> None:
    # A second samples catalog with an empty cache folder, so this session generates the data anew.
    spark.conf.set("spark.sql.catalog.fresh_samples", SAMPLES_CATALOG_CLASS)
    spark.conf.set("spark.sql.catalog.fresh_samples.cache-dir", str(tmp_path))
    results: list[Any] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            results.append(tuple(spark.sql(CHECKSUM_SQL.format(table="fresh_samples.nyctaxi.trips")).first()))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        spark.conf.unset("spark.sql.catalog.fresh_samples")
    assert not errors and results == [(TRIPS_ROWS, TRIPS_CHECKSUM)] * 3
    versions = list((tmp_path / "v1" / "nyctaxi" / "trips" / "_delta_log").glob("*.json"))
    assert [v.name for v in versions] == ["00000000000000000000.json"]  # one write, no second one
    assert not any((tmp_path / ".staging").iterdir())


def test_an_unwritable_cache_folder_is_named_in_the_error(spark: Any, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    spark.conf.set("spark.sql.catalog.blocked_samples", SAMPLES_CATALOG_CLASS)
    spark.conf.set("spark.sql.catalog.blocked_samples.cache-dir", str(blocked))
    try:
        with pytest.raises(Exception, match="could not materialize the sample table nyctaxi.trips under") as info:
            spark.table("blocked_samples.nyctaxi.trips")
        assert str(blocked) in str(info.value) and "LAKELOOM_CACHE_DIR" in str(info.value)
    finally:
        spark.conf.unset("spark.sql.catalog.blocked_samples")


def test_every_change_is_refused_and_changes_nothing(spark: Any, tmp_path: Path) -> None:
    from delta.tables import DeltaTable

    location = spark.sql(f"DESCRIBE DETAIL {TRIPS}").first().location
    changes = [
        lambda: spark.sql(f"INSERT INTO {TRIPS} SELECT * FROM {TRIPS} LIMIT 1"),
        lambda: spark.sql(f"UPDATE {TRIPS} SET fare_amount = 0"),
        lambda: spark.sql(f"DELETE FROM {TRIPS} WHERE fare_amount > 10"),
        lambda: spark.sql(f"MERGE INTO {TRIPS} t USING {TRIPS} s ON t.fare_amount = s.fare_amount "
                          "WHEN MATCHED THEN DELETE"),
        lambda: spark.sql("CREATE TABLE samples.nyctaxi.mine (a INT)"),
        lambda: spark.sql("CREATE SCHEMA samples.mine"),
        lambda: spark.sql(f"DROP TABLE {TRIPS}"),
        lambda: spark.sql(f"ALTER TABLE {TRIPS} SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')"),
        lambda: spark.sql(f"TRUNCATE TABLE {TRIPS}"),
        lambda: spark.sql(f"OPTIMIZE {TRIPS}"),
        lambda: spark.sql(f"VACUUM {TRIPS} RETAIN 0 HOURS"),
        # to the current version: Delta's analysis would make it a no-op before any check rule
        lambda: spark.sql(f"RESTORE TABLE {TRIPS} TO VERSION AS OF 0"),
        lambda: spark.sql(f"RESTORE TABLE delta.`{location}` TO VERSION AS OF 0"),
        lambda: spark.sql(f"GRANT SELECT ON TABLE {TRIPS} TO `carol`"),
        lambda: DeltaTable.forName(spark, TRIPS).delete("fare_amount > 10"),
        lambda: spark.range(1).write.mode("append").saveAsTable(TRIPS),
        lambda: spark.table(TRIPS).limit(1).write.format("delta").mode("append").save(location),
        lambda: spark.readStream.table(TRIPS).writeStream.option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(availableNow=True).toTable(TRIPS),
    ]
    for change in changes:
        with pytest.raises(Exception) as info:
            change()
        assert READ_ONLY in str(info.value) and "read-only `samples` catalog" in str(info.value)
    catalog, schema = spark.catalog.currentCatalog(), spark.catalog.currentDatabase()
    spark.sql("USE CATALOG samples")
    try:  # a name the current catalog completes
        with pytest.raises(Exception, match=re.escape(READ_ONLY)):
            spark.sql("RESTORE TABLE nyctaxi.trips TO VERSION AS OF 0")
    finally:
        spark.sql(f"USE {catalog}.{schema}")
    assert spark.sql(f"DESCRIBE HISTORY {TRIPS}").count() == 1
    assert spark.sql(f"SELECT count(*) FROM {TRIPS} VERSION AS OF 0").first()[0] == TRIPS_ROWS
    row = spark.sql(CHECKSUM_SQL.format(table=TRIPS)).first()
    assert (row.n, row.checksum) == (TRIPS_ROWS, TRIPS_CHECKSUM)


def test_any_principal_reads_without_a_grant_and_nobody_writes(spark: Any) -> None:
    spark.sql("CREATE TABLE main.default.samples_gov_probe AS SELECT 1 AS a")
    try:
        with as_principal(spark, "samples_reader"):
            assert spark.table(TRIPS).count() == TRIPS_ROWS
            assert spark.sql("SHOW TABLES IN samples.nyctaxi").count() == 1
            with pytest.raises(Exception, match="INSUFFICIENT_PERMISSIONS"):  # governance is on for this principal
                spark.table("main.default.samples_gov_probe").collect()
            with pytest.raises(Exception) as info:
                spark.sql(f"INSERT INTO {TRIPS} SELECT * FROM {TRIPS} LIMIT 1")
            assert READ_ONLY in str(info.value)
    finally:
        spark.sql("DROP TABLE main.default.samples_gov_probe")
