# Databricks notebook source
# DBTITLE 1,Declare widgets
dbutils.widgets.text("region", "emea", "Region")
dbutils.widgets.dropdown("mode", "full", ["full", "incremental"])
dbutils.widgets.text("only_default", "kept")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Read the values
# MAGIC Parameters passed by the task win over the declared defaults.

# COMMAND ----------

import json

values = {name: dbutils.widgets.get(name) for name in ("region", "mode", "only_default")}
print("widgets:", values)
dbutils.jobs.taskValues.set("region", values["region"])
dbutils.jobs.taskValues.set("row_count", 42)

# COMMAND ----------

dbutils.notebook.exit(json.dumps(values, sort_keys=True))

# COMMAND ----------

raise AssertionError("cells after exit must not run")
