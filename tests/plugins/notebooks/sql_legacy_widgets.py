# Databricks notebook source
# Legacy ${widget} references in SQL cells, next to :name markers.
dbutils.widgets.text("view_name", "nb_legacy")
dbutils.widgets.text("min_id", "0")
spark.conf.set("nb.legacy.note", "from-spark-conf")

# COMMAND ----------

# MAGIC %sql
# MAGIC CREATE OR REPLACE TEMP VIEW ${view_name} AS SELECT id FROM range(6);
# MAGIC SELECT count(*) AS n, '${nb.legacy.note}' AS kept FROM ${view_name} WHERE id >= ${min_id} AND id >= :min_id

# COMMAND ----------

row = _sqldf.first()
dbutils.notebook.exit(f"{row['n']}|{row['kept']}")
