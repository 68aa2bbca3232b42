"""Deterministic raw data: orders (JSON lines), customers (CSV), products (JSON)."""
from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, timedelta
from pathlib import Path

REGIONS = ("NA", "EU", "APAC")
CATEGORIES = ("grocery", "home", "toys", "garden", "books")


def generate_raw(run_date: str, landing: str, orders: int = 5000, customers: int = 400, products: int = 60,
                 ctx=None) -> dict:
    """Write one day of raw files under ``landing/<run_date>/`` and return their paths.

    ``landing`` is a volume path (``/Volumes/<catalog>/<schema>/<volume>``): inside a run the
    schema and volume are created first, as on Databricks, where writing under a volume that
    does not exist fails; a plain local folder works too. The same ``run_date`` always yields the
    same files. About 1% of orders are bad on purpose (non-positive quantity or unknown customer)
    so silver has something to reject.
    """
    day = date.fromisoformat(run_date)
    rng = random.Random(run_date)
    out = f"{(ctx.resolve(landing) if ctx else landing).rstrip('/')}/{run_date}"
    if out.startswith("/Volumes/"):
        catalog, schema, volume = out.split("/")[2:5]
        if ctx is not None:
            ctx.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{schema}")
            ctx.spark.sql(f"CREATE VOLUME IF NOT EXISTS {catalog}.{schema}.{volume}")

    customers_csv = io.StringIO(newline="")
    w = csv.writer(customers_csv)
    w.writerow(["customer_id", "name", "region", "signup_date"])
    for c in range(1, customers + 1):
        w.writerow([c, f"customer-{c:05d}", REGIONS[c % len(REGIONS)],
                    (day - timedelta(days=rng.randint(0, 900))).isoformat()])
    products_json = "".join(
        json.dumps({"product_id": p, "category": CATEGORIES[p % len(CATEGORIES)],
                    "unit_price": round(rng.uniform(1, 120), 2)}) + "\n"
        for p in range(1, products + 1))
    bad = 0
    order_lines = []
    for o in range(1, orders + 1):
        quantity = rng.randint(1, 6)
        customer = rng.randint(1, customers)
        if rng.random() < 0.01:
            bad += 1
            if rng.random() < 0.5:
                quantity = 0
            else:
                customer = customers + rng.randint(1, 50)
        order_lines.append(json.dumps({
            "order_id": f"{run_date}-{o:06d}", "customer_id": customer, "product_id": rng.randint(1, products),
            "quantity": quantity, "order_ts": f"{run_date}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
        }) + "\n")
    for name, text in (("customers.csv", customers_csv.getvalue()), ("products.json", products_json),
                       ("orders.json", "".join(order_lines))):
        _write(f"{out}/{name}", text, ctx)
    print(f"generated {orders} orders ({bad} bad), {customers} customers, {products} products in {out}")
    if ctx is not None:
        ctx.task_values.set("landing_dir", out)
        ctx.task_values.set("raw_orders", orders)
    return {"landing_dir": out, "orders": orders, "bad_orders": bad}


def _write(path: str, text: str, ctx) -> None:
    """A Databricks path through ``dbutils.fs`` (the volume must exist); a local one directly."""
    if path.startswith(("/Volumes/", "dbfs:")):
        from lakeloom.runtime.dbutils import dbutils

        dbutils.fs.put(path, text, overwrite=True)
        return
    local = Path(path)
    if ctx is not None and not local.is_absolute():
        local = ctx.workspace.root / local
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
