# Silver, written with the legacy `import dlt` module to show that it runs unmodified:
# validated orders (expectations drop bad rows and count them) and an SCD type 2 customer
# dimension maintained by APPLY CHANGES from the daily customer snapshots.
import dlt
from pyspark.sql import functions as F
from pyspark.sql.window import Window


@dlt.view(comment="Latest price and category per product.")
def products_current():
    return (dlt.read("bronze_products")
            .withColumn("_rn", F.row_number().over(
                Window.partitionBy("product_id").orderBy(F.col("_ingest_date").desc())))
            .where("_rn = 1").select("product_id", "category", "unit_price"))


@dlt.table(comment="Valid orders with their price.", partition_cols=["order_date"])
@dlt.expect_or_drop("positive_quantity", "quantity > 0")
@dlt.expect_or_drop("known_product", "unit_price IS NOT NULL")
@dlt.expect("known_customer", "customer_id <= 400")
def silver_orders():
    orders = dlt.read_stream("bronze_orders")
    return (orders.join(dlt.read("products_current"), "product_id", "left")
            .select("order_id", "customer_id", "product_id", "category", "quantity", "unit_price",
                    (F.col("quantity") * F.col("unit_price")).cast("decimal(12,2)").alias("amount"),
                    F.to_timestamp("order_ts").alias("order_ts"), F.to_date("order_ts").alias("order_date")))


dlt.create_streaming_table("dim_customers", comment="Customers, SCD type 2 over the daily snapshots.")
dlt.apply_changes(
    target="dim_customers",
    source="bronze_customers",
    keys=["customer_id"],
    sequence_by=F.col("_ingest_date"),
    except_column_list=["_rescued_data", "_source_file"],
    stored_as_scd_type=2,
    track_history_column_list=["name", "region"],
)
