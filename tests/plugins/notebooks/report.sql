-- Databricks notebook source
CREATE OR REPLACE TEMP VIEW sqlnb_sales AS
SELECT * FROM VALUES ('emea', 10), ('amer', 20), ('emea', 5) AS t(region, amount);

-- COMMAND ----------

-- DBTITLE 1,Totals
SELECT region, sum(amount) AS total FROM sqlnb_sales WHERE region = :region GROUP BY region

-- COMMAND ----------

-- MAGIC %python
-- MAGIC total = _sqldf.first()["total"]
-- MAGIC dbutils.notebook.exit(str(total))
