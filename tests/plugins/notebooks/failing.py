# Databricks notebook source
x = 1
print("before the failure")

# COMMAND ----------

def divide(a, b):
    return a / b

# COMMAND ----------

result = divide(x, 0)  # fails here

# COMMAND ----------

print("never printed")
