"""Declarative pipelines: incremental update vs full refresh, and pipeline vs hand-written PySpark.

A three-dataset pipeline (Auto Loader bronze streaming table, silver streaming table with
two expectations, gold materialized view) over ``--files`` JSON files of ``--rows`` orders:

- T_full: a full refresh (streaming tables truncated, checkpoints reset, every file reprocessed);
- T_inc: the next update after 1% new input (one more file);
- T_hand: a hand-written PySpark script doing the same work (the same three writes with
  Structured Streaming, availableNow and checkpoints, the same filter and violation counts),
  on fresh tables, in the same Spark session.

Goals (issue 4): T_inc <= 25% of T_full; T_full / T_hand <= 1.15. Each round runs the script,
a full refresh, lands one more file and runs the incremental update back to back (so the
three share the machine's load); ratios are the median of the per-round ratios.

    .venv/bin/python benchmarks/pipeline_incremental.py [--files 100] [--rows 100000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SCHEMA = "order_id BIGINT, customer_id BIGINT, region STRING, amount DOUBLE, order_ts STRING"
PIPELINE_SOURCE = '''
from pyspark import pipelines as dp
from pyspark.sql import functions as F

SCHEMA = "{schema}"


@dp.table
def bronze():
    return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
            .schema(SCHEMA).load(spark.conf.get("bench.landing")))


@dp.table
@dp.expect_or_drop("positive_amount", "amount > 0")
@dp.expect("has_region", "region IS NOT NULL")
def silver():
    return spark.readStream.table("bronze").select(
        "order_id", "customer_id", "region", "amount", F.to_date("order_ts").alias("order_date"))


@dp.materialized_view
def gold():
    return (spark.read.table("silver").groupBy("order_date", "region")
            .agg(F.count("*").alias("orders"), F.sum("amount").alias("revenue")))
'''


def land(landing: Path, index: int, rows: int) -> None:
    rng = random.Random(index)
    day = f"2026-01-{index % 28 + 1:02d}"
    folder = landing / f"batch={index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "orders.json", "w") as f:
        for i in range(rows):
            f.write(json.dumps({
                "order_id": index * rows + i, "customer_id": rng.randint(1, 5000),
                "region": rng.choice(("NA", "EU", "APAC", None)) if rng.random() < 0.02 else rng.choice(("NA", "EU", "APAC")),
                "amount": round(rng.uniform(-5, 200), 2), "order_ts": f"{day}T{rng.randint(0, 23):02d}:00:00"}) + "\n")


def hand_written(spark, landing: Path, schema: str, checkpoints: Path) -> dict:  # type: ignore[no-untyped-def]
    """The same work as the pipeline, written directly against Structured Streaming and Delta."""
    from pyspark.sql import functions as F

    spark.sql(f"CREATE SCHEMA IF NOT EXISTS main.{schema}")
    bronze = (spark.readStream.format("json").schema(SCHEMA).option("recursiveFileLookup", "true")
              .load(str(landing)).writeStream.format("delta").trigger(availableNow=True)
              .option("checkpointLocation", str(checkpoints / "bronze")).toTable(f"main.{schema}.bronze"))
    bronze.awaitTermination()
    ok = F.coalesce(F.col("amount") > 0, F.lit(False))
    silver = (spark.readStream.table(f"main.{schema}.bronze")
              .observe("dq", F.count(F.lit(1)).alias("rows"), F.sum(F.when(ok, 0).otherwise(1)).alias("bad_amount"),
                       F.sum(F.when(F.col("region").isNotNull(), 0).otherwise(1)).alias("no_region"))
              .where(ok).select("order_id", "customer_id", "region", "amount", F.to_date("order_ts").alias("order_date"))
              .writeStream.format("delta").trigger(availableNow=True)
              .option("checkpointLocation", str(checkpoints / "silver")).toTable(f"main.{schema}.silver"))
    silver.awaitTermination()
    (spark.read.table(f"main.{schema}.silver").groupBy("order_date", "region")
     .agg(F.count("*").alias("orders"), F.sum("amount").alias("revenue"))
     .writeTo(f"main.{schema}.gold").using("delta").createOrReplace())
    metrics = [p["observedMetrics"].get("dq") for p in silver.recentProgress if p["observedMetrics"]]
    return {"rows": sum(int(p["numInputRows"]) for p in bronze.recentProgress), "dq": [m.asDict() for m in metrics]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import yaml

    from lakeloom.config import Workspace
    from lakeloom.pipelines.runner import UpdateOptions, run_update
    from lakeloom.pipelines.spec import load_pipeline
    from lakeloom.runtime.spark import SparkSessionProvider

    root = Path(tempfile.mkdtemp(prefix="lakeloom-pipeline-bench-"))
    ws = Workspace(root=root, settings={"spark": {"master": "local[2]", "conf": {"spark.ui.enabled": "false"}}})
    landing = root / "landing"
    t = time.perf_counter()
    for i in range(args.files):
        land(landing, i, args.rows)
    print(f"landed {args.files} files x {args.rows} rows in {time.perf_counter() - t:.1f}s under {root}")
    src = root / "pipeline" / "transformations" / "orders.py"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent(PIPELINE_SOURCE.format(schema=SCHEMA)))
    spec = {"name": "bench", "catalog": "main", "schema": "bench",
            "libraries": [{"glob": {"include": "transformations/*"}}], "configuration": {"bench.landing": str(landing)}}
    (root / "pipeline" / "bench.pipeline.yml").write_text(yaml.safe_dump(spec))
    loaded = load_pipeline(root / "pipeline" / "bench.pipeline.yml")

    provider = SparkSessionProvider(ws, app_name="pipeline-bench")
    spark = provider.get()
    try:
        t = time.perf_counter()
        first = run_update(spark, loaded, ws)
        print(f"warm-up update (initial load): {time.perf_counter() - t:.1f}s, "
              f"{first.datasets['bronze'].rows_written} bronze rows")
        fulls, hands, incs = [], [], []
        for r in range(args.repeat):
            # One round = hand-written, full refresh, +1% input, incremental: paired under the same load.
            t = time.perf_counter()
            hand = hand_written(spark, landing, f"hand{r}", root / f"hand-checkpoints-{r}")
            hands.append(time.perf_counter() - t)
            t = time.perf_counter()
            full = run_update(spark, loaded, ws, UpdateOptions(full_refresh=True))
            fulls.append(time.perf_counter() - t)
            assert full.datasets["bronze"].rows_written == hand["rows"] == (args.files + r) * args.rows
            land(landing, args.files + r, args.rows)  # one more file: 1% of the input at the default 100 files
            t = time.perf_counter()
            inc = run_update(spark, loaded, ws)
            incs.append(time.perf_counter() - t)
            assert inc.datasets["bronze"].rows_written == args.rows
            print(f"  round {r + 1}: hand-written {hands[-1]:.1f}s, full refresh {fulls[-1]:.1f}s, "
                  f"incremental {incs[-1]:.1f}s  (inc/full {incs[-1] / fulls[-1]:.3f}, "
                  f"full/hand {fulls[-1] / hands[-1]:.3f})")
        breakdown = {"full refresh": full, "incremental": inc}
        gold_rows = spark.table("main.bench.gold").count()
    finally:
        provider.stop()
        shutil.rmtree(root, ignore_errors=True)

    t_full, t_hand, t_inc = statistics.median(fulls), statistics.median(hands), statistics.median(incs)
    inc_ratio = statistics.median(i / f for i, f in zip(incs, fulls))
    hand_ratio = statistics.median(f / h for f, h in zip(fulls, hands))
    print()
    for label, result in breakdown.items():
        flows = ", ".join(f"{f.dataset} {f.seconds:.1f}s" for d in result.datasets.values() for f in d.flows)
        print(f"{label} update {result.seconds:.1f}s: {flows}")
    print(f"machine: {platform.machine()} {platform.system()} python {sys.version.split()[0]}")
    print(f"input: {args.files} files x {args.rows} rows = {args.files * args.rows:,} rows; +1 file (1%) incremental")
    print(f"T_full  (pipeline full refresh, median of {args.repeat}): {t_full:7.2f} s")
    print(f"T_inc   (pipeline update after 1% new input):        {t_inc:7.2f} s   "
          f"(bronze +{args.rows} rows, gold {gold_rows} rows recomputed)")
    print(f"T_hand  (hand-written PySpark, median of {args.repeat}):  {t_hand:7.2f} s")
    print("ratios: median of the per-round ratios (each round measured back to back)")
    print(f"incremental / full refresh = {inc_ratio:.3f}   (goal <= 0.25: {'met' if inc_ratio <= 0.25 else 'NOT met'})")
    print(f"pipeline / hand-written    = {hand_ratio:.3f}   (goal <= 1.15: {'met' if hand_ratio <= 1.15 else 'NOT met'})")


if __name__ == "__main__":
    main()
