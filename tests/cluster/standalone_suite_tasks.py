"""Task code of the cluster tests' jobs (imported by the drivers through PYTHONPATH and by the
executors' Python workers through the task's import folders)."""
from __future__ import annotations

import os
import time

from lakeloom import context


def merge_orders() -> dict:
    """A Delta MERGE: half the orders first, then every order merged in with updated amounts."""
    spark = context().spark
    spark.sql("CREATE OR REPLACE TABLE main.retail.orders_merged AS "
              "SELECT order_id, customer_id, amount FROM main.retail.silver_orders WHERE hash(order_id) % 2 = 0")
    spark.sql("""
        MERGE INTO main.retail.orders_merged t
        USING (SELECT order_id, customer_id, amount * 2 AS amount FROM main.retail.silver_orders) s
        ON t.order_id = s.order_id
        WHEN MATCHED THEN UPDATE SET t.amount = s.amount
        WHEN NOT MATCHED THEN INSERT (order_id, customer_id, amount) VALUES (s.order_id, s.customer_id, s.amount)
    """)
    sc = spark.sparkContext
    print(f"APP_ID={sc.applicationId} MASTER={sc.master}")
    return {"app_id": sc.applicationId}


def slow_stage(markers: str, partitions: str = "8") -> dict:
    """One stage of ``partitions`` tasks of ~3 s each (each leaves a file in ``markers`` when it
    starts); the sum proves every row was counted exactly once."""
    spark = context().spark
    n = int(partitions)

    def slow_partition(rows):  # runs in the executors' Python workers
        open(os.path.join(markers, f"started-{os.getpid()}-{time.monotonic_ns()}"), "w").close()
        time.sleep(3)
        yield sum(rows)

    total = sum(spark.sparkContext.parallelize(range(100 * n), n).mapPartitions(slow_partition).collect())
    print(f"APP_ID={spark.sparkContext.applicationId} TOTAL={total}")
    context().task_values.set("total", total)
    return {"total": total}
