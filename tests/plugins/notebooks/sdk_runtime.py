# Databricks notebook source
from databricks.sdk.runtime import dbutils as sdk_dbutils, spark as sdk_spark, display as sdk_display

region = sdk_dbutils.widgets.get("region")
n = sdk_spark.range(3).count()
sdk_display(sdk_spark.range(2))
sdk_dbutils.jobs.taskValues.set("seen", f"{region}:{n}")
sdk_dbutils.notebook.exit(f"{region}:{n}")
