# Databricks notebook source
# MAGIC %sh
# MAGIC echo "from the shell: $((6 * 7))"

# COMMAND ----------

# MAGIC %fs mkdirs dbfs:/tmp/magics

# COMMAND ----------

dbutils.fs.put("dbfs:/tmp/magics/hello.txt", "hello dbfs", True)

# COMMAND ----------

# MAGIC %fs ls dbfs:/tmp/magics

# COMMAND ----------

# MAGIC %fs head dbfs:/tmp/magics/hello.txt

# COMMAND ----------

# MAGIC %python
# MAGIC 6 * 7
