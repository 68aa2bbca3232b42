"""Bronze, silver and gold steps. Each is a ``python_task`` sharing the run's Spark session."""
from __future__ import annotations

from lakeloom import context

SCHEMA = "main.retail"


def _spark():
    spark = context().spark
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    return spark


def _upsert(df, table: str, keys: list[str]) -> int:
    """MERGE ``df`` into ``table`` on ``keys`` (create it on first use); returns the rows merged."""
    from delta.tables import DeltaTable

    spark = df.sparkSession
    if not spark.catalog.tableExists(table):
        df.write.format("delta").saveAsTable(table)
        return spark.table(table).count()  # answered from the Delta log's file statistics
    cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    metrics = (DeltaTable.forName(spark, table).alias("t").merge(df.alias("s"), cond)
               .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()).first()
    # Each source row is updated or inserted: the merge's own count, without computing ``df`` again.
    return int(metrics["num_affected_rows"])


def ingest(entity: str, run_date: str, landing_dir: str) -> dict:
    """Raw files of one entity into ``bronze_<entity>``, idempotently (MERGE on the natural key)."""
    from pyspark.sql import functions as F

    spark = _spark()
    path = f"{landing_dir}"
    if entity == "customers":
        df = spark.read.option("header", True).option("inferSchema", True).csv(f"{path}/customers.csv")
        keys = ["customer_id"]
    elif entity == "products":
        df = spark.read.json(f"{path}/products.json")
        keys = ["product_id"]
    else:
        df = spark.read.json(f"{path}/orders.json")
        keys = ["order_id"]
    df = df.withColumn("_ingest_date", F.lit(run_date)).withColumn("_source_file", F.input_file_name())
    n = _upsert(df, f"{SCHEMA}.bronze_{entity}", keys)
    print(f"bronze_{entity}: merged {n} rows")
    context().task_values.set("rows", n)
    return {"table": f"{SCHEMA}.bronze_{entity}", "rows": n}


def silver_orders(run_date: str) -> dict:
    """Valid orders joined with prices; rejects are counted and kept in ``silver_order_rejects``."""
    from pyspark.sql import functions as F

    spark = _spark()
    orders = spark.table(f"{SCHEMA}.bronze_orders").where(F.col("_ingest_date") == run_date)
    products = spark.table(f"{SCHEMA}.bronze_products").select("product_id", "unit_price", "category")
    customers = spark.table(f"{SCHEMA}.bronze_customers").select("customer_id", "region")
    # Both merges read the three-way join: computed once, unpersisted below.
    enriched = orders.join(products, "product_id", "left").join(customers, "customer_id", "left").persist()
    valid = (F.col("quantity") > 0) & F.col("region").isNotNull() & F.col("unit_price").isNotNull()
    good = enriched.where(valid).select(
        "order_id", "customer_id", "product_id", "category", "region", "quantity", "unit_price",
        (F.col("quantity") * F.col("unit_price")).cast("decimal(12,2)").alias("amount"),
        F.to_timestamp("order_ts").alias("order_ts"), F.to_date("order_ts").alias("order_date"))
    bad = enriched.where(~valid | valid.isNull()).select("order_id", "customer_id", "product_id", "quantity")
    try:
        n_good = _upsert(good, f"{SCHEMA}.silver_orders", ["order_id"])
        n_bad = _upsert(bad, f"{SCHEMA}.silver_order_rejects", ["order_id"])
    finally:
        enriched.unpersist()
    ctx = context()
    ctx.task_values.set("valid_orders", n_good)
    ctx.task_values.set("rejected_orders", n_bad)
    print(f"silver_orders: {n_good} valid, {n_bad} rejected")
    return {"valid": n_good, "rejected": n_bad}


def silver_customers() -> dict:
    from pyspark.sql import functions as F

    spark = _spark()
    df = spark.table(f"{SCHEMA}.bronze_customers").select(
        "customer_id", F.trim("name").alias("name"), F.upper("region").alias("region"),
        F.to_date("signup_date").alias("signup_date"))
    df.write.format("delta").mode("overwrite").option("overwriteSchema", True).saveAsTable(f"{SCHEMA}.silver_customers")
    return {"rows": df.count()}


def gold_daily_revenue() -> dict:
    spark = _spark()
    spark.sql(f"""
        CREATE OR REPLACE TABLE {SCHEMA}.gold_daily_revenue AS
        SELECT order_date, region, category, COUNT(*) AS orders, SUM(quantity) AS units,
               CAST(SUM(amount) AS DECIMAL(14,2)) AS revenue
        FROM {SCHEMA}.silver_orders GROUP BY order_date, region, category""")
    # Created here, once, so the parallel for-each iterations only ever overwrite their own partition.
    spark.sql(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.gold_region_summary
                  (region STRING, order_date DATE, orders BIGINT, revenue DECIMAL(14,2))
                  USING DELTA PARTITIONED BY (region)""")
    regions = [r.region for r in spark.sql(
        f"SELECT DISTINCT region FROM {SCHEMA}.gold_daily_revenue ORDER BY region").collect()]
    context().task_values.set("regions", regions)
    return {"regions": regions}


def gold_customer_ltv() -> dict:
    spark = _spark()
    spark.sql(f"""
        CREATE OR REPLACE TABLE {SCHEMA}.gold_customer_ltv AS
        SELECT c.customer_id, c.name, c.region, COUNT(o.order_id) AS orders,
               CAST(COALESCE(SUM(o.amount), 0) AS DECIMAL(14,2)) AS lifetime_value
        FROM {SCHEMA}.silver_customers c LEFT JOIN {SCHEMA}.silver_orders o USING (customer_id)
        GROUP BY c.customer_id, c.name, c.region""")
    return {"rows": spark.table(f"{SCHEMA}.gold_customer_ltv").count()}


def quality_gate(max_reject_ratio: str) -> dict:
    """Sets ``reject_ratio_ok`` ("true"/"false") for the condition task that gates publishing."""
    ctx = context()
    valid = int(ctx.task_values.get("silver_orders", "valid_orders"))
    rejected = int(ctx.task_values.get("silver_orders", "rejected_orders"))
    ratio = rejected / max(1, valid + rejected)
    ok = ratio <= float(max_reject_ratio)
    ctx.task_values.set("reject_ratio", round(ratio, 4))
    ctx.task_values.set("reject_ratio_ok", ok)
    print(f"reject ratio {ratio:.2%} (limit {float(max_reject_ratio):.2%}) -> {'ok' if ok else 'too high'}")
    return {"reject_ratio": ratio, "ok": ok}


def publish_region(region: str, run_date: str) -> dict:
    """One for-each iteration: the region's daily summary into ``gold_region_summary``."""
    from pyspark.sql import functions as F

    spark = _spark()
    df = (spark.table(f"{SCHEMA}.gold_daily_revenue").where(F.col("region") == region)
          .groupBy("order_date").agg(F.sum("orders").alias("orders"),
                                     F.sum("revenue").cast("decimal(14,2)").alias("revenue"))
          .select(F.lit(region).alias("region"), "order_date", "orders", "revenue"))
    (df.write.format("delta").mode("overwrite").option("replaceWhere", f"region = '{region}'")
     .saveAsTable(f"{SCHEMA}.gold_region_summary"))
    row = df.collect()
    print(f"{region}: {row}")
    return {"region": region, "days": len(row)}


def quarantine_report() -> dict:
    spark = _spark()
    n = spark.table(f"{SCHEMA}.silver_order_rejects").count()
    print(f"publishing skipped: {n} rejected orders need attention")
    return {"rejects": n}
