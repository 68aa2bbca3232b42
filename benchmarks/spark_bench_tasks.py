"""The six steps of the Spark benchmark job, written once and used both as lakeloom
``python_task`` functions and, in order, by the hand-made PySpark baseline."""
from __future__ import annotations

from typing import Any


def _spark(ctx: Any = None) -> Any:
    if ctx is not None:
        return ctx.spark
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def generate(root: str, rows: int, ctx: Any = None) -> None:
    from pyspark.sql import functions as F

    spark = _spark(ctx)
    df = (spark.range(int(rows)).withColumn("region", (F.col("id") % 7).cast("string"))
          .withColumn("amount", (F.col("id") * 13 % 1000).cast("double"))
          .withColumn("day", (F.col("id") % 30).cast("int")))
    df.write.format("delta").mode("overwrite").save(f"{root}/bronze")


def by_region(root: str, ctx: Any = None) -> None:
    from pyspark.sql import functions as F

    spark = _spark(ctx)
    (spark.read.format("delta").load(f"{root}/bronze").groupBy("region")
     .agg(F.sum("amount").alias("total"), F.count("*").alias("n"))
     .write.format("delta").mode("overwrite").save(f"{root}/silver_region"))


def by_day(root: str, ctx: Any = None) -> None:
    from pyspark.sql import functions as F

    spark = _spark(ctx)
    (spark.read.format("delta").load(f"{root}/bronze").where("amount > 100").groupBy("day")
     .agg(F.avg("amount").alias("avg_amount"), F.max("amount").alias("max_amount"))
     .write.format("delta").mode("overwrite").save(f"{root}/silver_day"))


def gold(root: str, ctx: Any = None) -> None:
    spark = _spark(ctx)
    region = spark.read.format("delta").load(f"{root}/silver_region")
    day = spark.read.format("delta").load(f"{root}/silver_day")
    (region.crossJoin(day.selectExpr("avg(avg_amount) as overall_avg"))
     .selectExpr("region", "total", "n", "total / n / overall_avg as index")
     .write.format("delta").mode("overwrite").save(f"{root}/gold"))


def check_counts(root: str, ctx: Any = None) -> int:
    spark = _spark(ctx)
    n = spark.read.format("delta").load(f"{root}/gold").count()
    assert n == 7, n
    if ctx is not None:
        ctx.task_values.set("regions", n)
    return n


def report(root: str, ctx: Any = None) -> float:
    spark = _spark(ctx)
    return float(spark.read.format("delta").load(f"{root}/gold").agg({"total": "sum"}).collect()[0][0])


STEPS = ["generate", "by_region", "by_day", "gold", "check_counts", "report"]
