# Databricks notebook source
# MAGIC %md
# MAGIC # Region scorecard
# MAGIC Ranks regions by revenue for one day and hands the leader to downstream tasks.

# COMMAND ----------

dbutils.widgets.text("run_date", "2026-01-31", "Run date")
dbutils.widgets.text("min_orders", "1", "Minimum orders per region")
run_date = dbutils.widgets.get("run_date")
min_orders = int(dbutils.widgets.get("min_orders"))

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT region, SUM(orders) AS orders, CAST(SUM(revenue) AS DECIMAL(14,2)) AS revenue
# MAGIC FROM main.retail.gold_daily_revenue GROUP BY region ORDER BY revenue DESC

# COMMAND ----------

# DBTITLE 1,Score and publish
from pyspark.sql import functions as F

scores = (spark.table("main.retail.gold_daily_revenue")
          .where(F.col("order_date") == F.lit(run_date).cast("date"))
          .groupBy("region").agg(F.sum("orders").alias("orders"), F.sum("revenue").alias("revenue"))
          .where(F.col("orders") >= min_orders)
          .orderBy(F.col("revenue").desc()))
display(scores)
rows = scores.collect()
leader = rows[0]["region"] if rows else "none"
dbutils.jobs.taskValues.set("leader", leader)
scores.write.format("delta").mode("overwrite").saveAsTable("main.retail.gold_region_scorecard")

# COMMAND ----------

dbutils.notebook.exit(leader)
