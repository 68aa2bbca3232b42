# Databricks notebook source
# MAGIC %run ./lib/helpers $greeting="hello there"

# COMMAND ----------

message = shout("lakeloom")
print(message)
dbutils.notebook.exit(message)
