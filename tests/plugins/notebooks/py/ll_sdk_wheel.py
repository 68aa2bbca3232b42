"""A python_wheel_task entry point written for Databricks (imported as a package)."""
from __future__ import annotations


def main() -> str:
    from databricks.sdk.runtime import dbutils, spark

    n = spark.range(6).count()
    dbutils.jobs.taskValues.set("wheel_n", n)
    return f"wheel saw {n}"
