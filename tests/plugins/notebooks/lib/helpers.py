# Databricks notebook source
GREETING = dbutils.widgets.get("greeting")


def shout(text):
    return f"{GREETING}, {text}!".upper()

# COMMAND ----------

print("helpers loaded with", GREETING)
