"""quality_task's Great Expectations validation vs the same checks as one PySpark aggregation.

A Delta table of ``--rows`` orders (1% of amounts out of range, so one expectation fails
with failing rows to sample) is checked by a 10-expectation suite through lakeloom's GX
runner (ephemeral context, Spark data source, DataFrame asset) under several GX settings,
and by one hand-written ``df.agg(...)`` computing the same ten checks. Everything runs in one
Delta-enabled SparkSession (lakeloom's session provider); each variant runs once to warm up,
then ``--repeat`` times, each time right after the aggregation; the median ratio is reported.

    .venv/bin/python benchmarks/quality_gx.py [--rows 1000000] [--repeat 2]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

STATUSES = ["paid", "open", "refunded", "shipped"]

SUITE: list[dict[str, Any]] = [
    {"expect_column_values_to_not_be_null": {"column": "id"}},
    {"expect_column_values_to_be_unique": {"column": "id"}},
    {"expect_column_values_to_be_between": {"column": "amount", "min_value": 0, "max_value": 1000}},
    {"expect_column_values_to_be_in_set": {"column": "status", "value_set": STATUSES}},
    {"expect_column_values_to_not_be_null": {"column": "customer"}},
    {"expect_column_values_to_match_regex": {"column": "customer", "regex": "^c[0-9]+$"}},
    {"expect_column_value_lengths_to_be_between": {"column": "customer", "min_value": 2, "max_value": 12}},
    {"expect_table_row_count_to_be_between": {"min_value": 1}},
    {"expect_column_mean_to_be_between": {"column": "amount", "min_value": 0, "max_value": 1000}},
    {"expect_column_max_to_be_between": {"column": "amount", "max_value": 2000}},
]

#: (label, GX result_format, failing rows sampled, persist, samples in a second pass)
VARIANTS: list[tuple[str, str, int, bool, bool]] = [
    ("BOOLEAN_ONLY, not cached", "BOOLEAN_ONLY", 0, False, False),
    ("BASIC, counts only, not cached", "BASIC", 0, False, True),
    ("BASIC, counts only, cached", "BASIC", 0, True, True),
    ("BASIC + 20 failing rows in one pass, cached", "BASIC", 20, True, False),
    ("BASIC + 20 failing rows of failed ones in a 2nd pass, cached (default)", "BASIC", 20, True, True),
    ("BASIC + 20 failing rows of failed ones in a 2nd pass, not cached", "BASIC", 20, False, True),
    ("SUMMARY + 20 failing rows, cached", "SUMMARY", 20, True, False),
    ("COMPLETE + index column id, cached", "COMPLETE", 20, True, False),
]


def make_table(spark: Any, rows: int) -> str:
    from pyspark.sql import functions as F

    spark.sql("CREATE SCHEMA IF NOT EXISTS main.bench")
    df = spark.range(rows).select(
        F.col("id"),
        F.when(F.col("id") % 100 == 0, F.lit(-1.0)).otherwise((F.col("id") % 1000).cast("double")).alias("amount"),
        F.element_at(F.array(*[F.lit(s) for s in STATUSES]), (F.col("id") % 4 + 1).cast("int")).alias("status"),
        F.concat(F.lit("c"), (F.col("id") % 50_000).cast("string")).alias("customer"))
    df.write.format("delta").mode("overwrite").saveAsTable("main.bench.orders")
    return "main.bench.orders"


def pyspark_checks(spark: Any, table: str) -> dict[str, Any]:
    """The ten checks as one aggregation; the same pass/fail answers as the suite."""
    from pyspark.sql import functions as F

    df = spark.table(table)
    c = F.col
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(c("id").isNull().cast("int")).alias("id_nulls"),
        F.countDistinct("id").alias("id_distinct"),
        F.sum((~c("amount").between(0, 1000)).cast("int")).alias("amount_out"),
        F.sum((~c("status").isin(STATUSES)).cast("int")).alias("status_out"),
        F.sum(c("customer").isNull().cast("int")).alias("customer_nulls"),
        F.sum((~c("customer").rlike("^c[0-9]+$")).cast("int")).alias("customer_bad"),
        F.sum((~F.length("customer").between(2, 12)).cast("int")).alias("customer_len_bad"),
        F.avg("amount").alias("amount_mean"),
        F.max("amount").alias("amount_max"),
    ).first().asDict()
    row["ok"] = {
        "id_not_null": row["id_nulls"] == 0, "id_unique": row["id_distinct"] == row["rows"],
        "amount_between": row["amount_out"] == 0, "status_in_set": row["status_out"] == 0,
        "customer_not_null": row["customer_nulls"] == 0, "customer_regex": row["customer_bad"] == 0,
        "customer_lengths": row["customer_len_bad"] == 0, "row_count": row["rows"] >= 1,
        "mean": 0 <= row["amount_mean"] <= 1000, "max": row["amount_max"] <= 2000}
    return row


def gx_checks(spark: Any, table: str, fmt_name: str, sample: int, persist: bool, second_pass: bool) -> list[bool]:
    from lakeloom.plugins.quality.runner import build_expectations, validate_dataframe
    from lakeloom.plugins.quality.suite import parse_entries

    specs, _ = parse_entries(SUITE)
    expectations = build_expectations(specs, [s.type for s in specs])
    extra = {"unexpected_index_column_names": ["id"]} if fmt_name == "COMPLETE" else None
    run = validate_dataframe(spark, spark.table(table), expectations, suite_name="bench", asset_name=table,
                             result_format_name=fmt_name, sample_failed_rows=sample, persist=persist,
                             extra_format=extra, samples_in_second_pass=second_pass)
    failed = [r for r in run.results if not r["success"]]
    assert not sample or all(len(r["result"].get("unexpected_rows") or []) == sample or fmt_name == "COMPLETE"
                             for r in failed), fmt_name
    return [bool(r["success"]) for r in run.results]


def paired(baseline: Callable[[], Any], variant: Callable[[], Any], repeat: int) -> tuple[float, float, float, Any]:
    """Median seconds of ``variant``, of ``baseline`` run just before it, and of their per-pair
    ratios: the machine's load changes from minute to minute, a pair's ratio much less."""
    variant()  # warm-up
    pairs, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        baseline()
        b = time.perf_counter() - t
        t = time.perf_counter()
        value = variant()
        pairs.append((time.perf_counter() - t, b))
    return (statistics.median(v for v, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(v / b for v, b in pairs), value)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    logging.getLogger("lakeloom").setLevel(logging.ERROR)
    from lakeloom.config import Workspace
    from lakeloom.runtime.spark import SparkSessionProvider

    root = Path(tempfile.mkdtemp(prefix="quality-bench-"))
    ws = Workspace(root=root, settings={"spark": {"master": "local[2]"}})
    provider = SparkSessionProvider(ws, app_name="quality-bench")
    t0 = time.perf_counter()
    spark = provider.get()
    print(f"spark session: {time.perf_counter() - t0:.1f} s; machine: {platform.machine()} "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
    try:
        table = make_table(spark, args.rows)
        t0 = time.perf_counter()
        import great_expectations  # noqa: F401 - timed once, apart from the validations

        print(f"import great_expectations: {time.perf_counter() - t0:.1f} s")
        agg = pyspark_checks(spark, table)  # warm-up, and the expected answers
        print(f"\n{args.rows:,} rows, 10 checks; medians of {args.repeat} pairs (the aggregation, then the "
              "variant), after a warm-up\n")
        print("| variant | GX (s) | aggregation (s) | ratio |\n|---|---:|---:|---:|")
        for label, fmt_name, sample, persist, second in VARIANTS:
            secs, base, ratio, oks = paired(lambda: pyspark_checks(spark, table),
                                            lambda: gx_checks(spark, table, fmt_name, sample, persist, second),
                                            args.repeat)
            assert oks.count(False) == list(agg["ok"].values()).count(False), (label, oks, agg["ok"])
            print(f"| {label} | {secs:.2f} | {base:.2f} | {ratio:.1f} |", flush=True)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
