# Bronze: raw files streamed in with Auto Loader syntax, as a Databricks pipeline would.
# Written against `from pyspark import pipelines as dp`; lakeloom maps `cloudFiles` onto
# Spark's file stream source, so each update ingests only the days landed since the last one.
from pyspark import pipelines as dp
from pyspark.sql import functions as F

LANDING = spark.conf.get("retail.landing")  # noqa: F821 - `spark` is provided to pipeline code


def _landed(name: str, fmt: str, **options: str):
    reader = (spark.readStream.format("cloudFiles")  # noqa: F821
              .option("cloudFiles.format", fmt)
              .option("cloudFiles.inferColumnTypes", "true")
              .option("pathGlobFilter", name))
    for key, value in options.items():
        reader = reader.option(key, value)
    return (reader.load(LANDING)
            .withColumn("_ingest_date", F.regexp_extract(F.col("_metadata.file_path"), r"/(\d{4}-\d{2}-\d{2})/", 1))
            .withColumn("_source_file", F.col("_metadata.file_path")))


@dp.table(comment="Raw orders, one row per order line as landed.")
def bronze_orders():
    return _landed("orders.json", "json")


@dp.table(comment="Raw customer snapshots, one file per day.")
def bronze_customers():
    return _landed("customers.csv", "csv", header="true")


@dp.table(comment="Raw product catalogue snapshots.")
def bronze_products():
    return _landed("products.json", "json")
