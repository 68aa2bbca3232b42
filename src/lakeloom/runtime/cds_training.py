"""The workload whose classes go into the driver's class-data sharing archive.

Run by :func:`lakeloom.runtime.jvm_cds.train` as ``python -m lakeloom.runtime.cds_training``
with ``LAKELOOM_CDS_DUMP`` set: it starts lakeloom's session on a throwaway workspace, does
what jobs and pipelines do in their first seconds (three-level names, Delta DDL and writes,
MERGE/UPDATE/DELETE, the change data feed, a JSON stream and a Delta stream into Delta tables,
aggregates and joins), then stops, so the JVM writes the archive as it exits.
Nothing it creates outlives it.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from lakeloom.runtime.jvm_cds import KEY_PREFIX, archive_key


def _workload(root: Path) -> None:
    from lakeloom.config import load_workspace
    from lakeloom.plugin_manager import plugin_spark_conf
    from lakeloom.runtime.spark import SparkSessionProvider

    (root / "conf").mkdir(parents=True)
    (root / "conf" / "lakeloom.yml").write_text("spark:\n  master: local[2]\n")
    workspace = load_workspace(root)
    provider = SparkSessionProvider(workspace, plugin_spark_conf(workspace), app_name="lakeloom-cds-training")
    spark = provider.get()
    print(f"{KEY_PREFIX}{archive_key(provider.conf())}", flush=True)
    jvm = spark.sparkContext._gateway.proc  # spark-class execs java: this is the driver JVM
    try:
        _delta(spark)
        _streams(spark, root / "landing", root / "checkpoints")
    finally:
        provider.stop()
    # The JVM writes the archive as it exits, which it does when its stdin closes; wait for it,
    # or the parent would find a half-written file.
    jvm.stdin.close()
    jvm.wait(timeout=600)


def _delta(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    spark.sql("CREATE SCHEMA IF NOT EXISTS main.cds")
    spark.sql("CREATE TABLE main.cds.orders (id BIGINT, region STRING, amount DOUBLE) "
              "TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    orders = spark.range(2000).select(
        F.col("id"), F.element_at(F.array(*map(F.lit, "ABCD")), (F.col("id") % 4 + 1).cast("int")).alias("region"),
        (F.col("id") * 1.5).alias("amount"))
    orders.write.mode("append").saveAsTable("main.cds.orders")
    spark.sql("MERGE INTO main.cds.orders t USING (SELECT id, 'E' AS region, 1.0 AS amount FROM range(1990, 2010)) s "
              "ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
    spark.sql("UPDATE main.cds.orders SET amount = amount + 1 WHERE id < 10")
    spark.sql("DELETE FROM main.cds.orders WHERE id = 0")
    spark.sql("CREATE OR REPLACE TABLE main.cds.totals AS SELECT region, count(*) AS n, sum(amount) AS total "
              "FROM main.cds.orders GROUP BY region")
    spark.sql("SELECT o.region, avg(o.amount), max(t.total) FROM main.cds.orders o JOIN main.cds.totals t "
              "ON o.region = t.region WHERE o.amount > 3 GROUP BY o.region ORDER BY 1").collect()
    spark.read.option("readChangeFeed", "true").option("startingVersion", 1).table("main.cds.orders") \
        .groupBy("_change_type").count().collect()
    spark.sql("DESCRIBE HISTORY main.cds.orders").collect()
    spark.sql("SHOW TABLES IN main.cds").collect()


def _streams(spark, landing: Path, checkpoints: Path) -> None:  # type: ignore[no-untyped-def]
    landing.mkdir(parents=True)
    (landing / "part-0.json").write_text("\n".join(
        json.dumps({"id": i, "region": "ABCD"[i % 4], "amount": i / 3, "ts": f"2026-01-{i % 28 + 1:02d}T00:00:00"})
        for i in range(500)) + "\n")
    bronze = (spark.readStream.format("json").schema("id BIGINT, region STRING, amount DOUBLE, ts STRING")
              .load(str(landing)).writeStream.trigger(availableNow=True)
              .option("checkpointLocation", str(checkpoints / "bronze")).toTable("main.cds.bronze"))
    bronze.awaitTermination()
    silver = (spark.readStream.table("main.cds.bronze").where("amount > 0").selectExpr("id", "region", "to_date(ts) AS day")
              .writeStream.trigger(availableNow=True).option("checkpointLocation", str(checkpoints / "silver"))
              .toTable("main.cds.silver"))
    silver.awaitTermination()
    spark.sql("SELECT day, count(*) FROM main.cds.silver GROUP BY day").collect()


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="lakeloom-cds-"))
    try:
        _workload(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
