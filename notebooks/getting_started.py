# Databricks notebook source
# MAGIC %md
# MAGIC # Getting started
# MAGIC A Databricks notebook that runs unmodified on lakeloom: widgets, the run's `spark`, `%sql` cells,
# MAGIC `display`, `dbutils.fs` on a Unity Catalog volume and task values. Run it with
# MAGIC `lakeloom run notebooks/examples.job.yml`, then `lakeloom runs output <run_id> getting_started`.

# COMMAND ----------

dbutils.widgets.text("rows", "5", "Rows to generate")
rows = int(dbutils.widgets.get("rows"))

# COMMAND ----------

# DBTITLE 1,A Delta table with a three-level name
spark.sql("CREATE SCHEMA IF NOT EXISTS main.examples")
(spark.range(1, rows + 1).selectExpr("id", "id * id AS squared")
 .write.mode("overwrite").saveAsTable("main.examples.squares"))

# COMMAND ----------

# MAGIC %sql
# MAGIC -- :rows is the widget, bound as a parameter (never pasted into the text)
# MAGIC SELECT id, squared FROM main.examples.squares WHERE squared >= :rows ORDER BY id

# COMMAND ----------

# DBTITLE 1,Files in a volume
spark.sql("CREATE VOLUME IF NOT EXISTS main.examples.files")
dbutils.fs.put("/Volumes/main/examples/files/hello.txt", "hello from lakeloom", overwrite=True)
print([f.name for f in dbutils.fs.ls("/Volumes/main/examples/files/")])
display(spark.read.text("/Volumes/main/examples/files/hello.txt"))

# COMMAND ----------

total = spark.table("main.examples.squares").agg({"squared": "sum"}).first()[0]
dbutils.jobs.taskValues.set("total", int(total))
dbutils.notebook.exit(str(total))
