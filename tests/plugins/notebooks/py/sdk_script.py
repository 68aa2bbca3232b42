"""A spark_python_task file written for Databricks: it imports the runtime objects."""
from databricks.sdk.runtime import dbutils, spark

n = spark.range(4).count()
dbutils.jobs.taskValues.set("script_n", n)
print("script saw", n, "rows")
