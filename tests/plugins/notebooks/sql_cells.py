# Databricks notebook source
# MAGIC %sql
# MAGIC CREATE OR REPLACE TEMP VIEW nb_numbers AS
# MAGIC SELECT id, id * 2 AS doubled FROM range(5);  -- a comment; with a semicolon
# MAGIC SELECT count(*) AS n, ':not_a_param' AS s FROM nb_numbers WHERE id >= :min_id

# COMMAND ----------

n = _sqldf.first()["n"]
display(spark.table("nb_numbers").orderBy("id"))
displayHTML("<b>bold</b>")
dbutils.notebook.exit(str(n))
