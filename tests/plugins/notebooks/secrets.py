# Databricks notebook source
password = dbutils.secrets.get("lakeloom-test", "db-password")
print("the password is", password)
display(spark.createDataFrame([(password,)], "p string"))

# COMMAND ----------

dbutils.notebook.exit(password)
