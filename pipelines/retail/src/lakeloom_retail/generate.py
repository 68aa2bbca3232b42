"""Deterministic raw data: orders (JSON lines), customers (CSV), products (JSON)."""
from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path

REGIONS = ("NA", "EU", "APAC")
CATEGORIES = ("grocery", "home", "toys", "garden", "books")


def generate_raw(run_date: str, landing: str, orders: int = 5000, customers: int = 400, products: int = 60,
                 ctx=None) -> dict:
    """Write one day of raw files under ``landing/<run_date>/`` and return their paths.

    The same ``run_date`` always yields the same files. About 1% of orders are bad on
    purpose (non-positive quantity or unknown customer) so silver has something to reject.
    """
    day = date.fromisoformat(run_date)
    rng = random.Random(run_date)
    root = Path(ctx.resolve(landing) if ctx else landing)
    if ctx is not None and not root.is_absolute():
        root = ctx.workspace.root / root
    out = root / run_date
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "customers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "name", "region", "signup_date"])
        for c in range(1, customers + 1):
            w.writerow([c, f"customer-{c:05d}", REGIONS[c % len(REGIONS)],
                        (day - timedelta(days=rng.randint(0, 900))).isoformat()])
    with open(out / "products.json", "w") as f:
        for p in range(1, products + 1):
            f.write(json.dumps({"product_id": p, "category": CATEGORIES[p % len(CATEGORIES)],
                                "unit_price": round(rng.uniform(1, 120), 2)}) + "\n")
    bad = 0
    with open(out / "orders.json", "w") as f:
        for o in range(1, orders + 1):
            quantity = rng.randint(1, 6)
            customer = rng.randint(1, customers)
            if rng.random() < 0.01:
                bad += 1
                if rng.random() < 0.5:
                    quantity = 0
                else:
                    customer = customers + rng.randint(1, 50)
            f.write(json.dumps({
                "order_id": f"{run_date}-{o:06d}", "customer_id": customer, "product_id": rng.randint(1, products),
                "quantity": quantity, "order_ts": f"{run_date}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
            }) + "\n")
    print(f"generated {orders} orders ({bad} bad), {customers} customers, {products} products in {out}")
    if ctx is not None:
        ctx.task_values.set("landing_dir", str(out))
        ctx.task_values.set("raw_orders", orders)
    return {"landing_dir": str(out), "orders": orders, "bad_orders": bad}
