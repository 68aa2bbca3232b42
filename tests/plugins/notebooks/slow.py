# Databricks notebook source
import time

for _ in range(100):
    time.sleep(0.1)

# COMMAND ----------

dbutils.notebook.exit("finished")
