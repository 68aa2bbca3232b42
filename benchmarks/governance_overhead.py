"""Authorization overhead of lakeloom's governance, on and off in the same Spark session.

Two workloads on 20 small Delta tables in ``main.bench``, run as a non-admin principal that
holds SELECT through a schema grant (so every check walks the grants, the owners and the USE
privileges of the parents):

- a 20-table join (``--joins`` repetitions), and
- ``--queries`` small queries (``SELECT count(*) FROM main.bench.t<i % 20>``).

Governance is switched off and on in alternating blocks (``Identity.setEnabled``), so the
machine's load drifts equally over both. Prints the median time per query for each mode and the
overhead ratio (goal: <= 5 %). ``--analysis-only`` times ``spark.sql(...)`` without running the
query (the check runs during analysis), which isolates the checks from execution time.

    .venv/bin/python benchmarks/governance_overhead.py              # ~5-10 min on a loaded machine
    .venv/bin/python benchmarks/governance_overhead.py --queries 200 --joins 10
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

TABLES = 20
BLOCK = 25


def _setup(spark: Any) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.bench")
    for i in range(TABLES):
        spark.sql(f"CREATE TABLE IF NOT EXISTS main.bench.t{i} (id INT, v{i} INT)")
        spark.sql(f"INSERT INTO main.bench.t{i} SELECT id, id * {i} FROM range(100)")
    spark.sql("GRANT USE CATALOG ON CATALOG main TO analysts")
    spark.sql("GRANT USE SCHEMA, SELECT ON SCHEMA main.bench TO analysts")


def _join_sql() -> str:
    joins = " ".join(f"JOIN main.bench.t{i} USING (id)" for i in range(1, TABLES))
    return f"SELECT count(*) FROM main.bench.t0 {joins}"


def _measure(spark: Any, switch: Callable[[bool], None], statements: list[str], run: bool) -> dict[bool, list[float]]:
    """Seconds per statement, by mode, over alternating blocks."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for start in range(0, len(statements), BLOCK):
        block = statements[start:start + BLOCK]
        for mode in ((True, False) if (start // BLOCK) % 2 == 0 else (False, True)):
            switch(mode)
            for sql in block:
                t0 = time.perf_counter()
                df = spark.sql(sql)
                if run:
                    df.collect()
                times[mode].append(time.perf_counter() - t0)
    switch(True)
    return times


def _report(label: str, times: dict[bool, list[float]]) -> None:
    on, off = statistics.median(times[True]), statistics.median(times[False])
    mean_on, mean_off = statistics.fmean(times[True]), statistics.fmean(times[False])
    print(f"{label:<28} n={len(times[True]):>5}  off {off * 1000:8.2f} ms  on {on * 1000:8.2f} ms  "
          f"median ratio {on / off:5.3f}  (means {mean_off * 1000:.2f} / {mean_on * 1000:.2f} ms, "
          f"ratio {mean_on / mean_off:5.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--joins", type=int, default=30)
    args = parser.parse_args()

    from lakeloom.catalog.identity import set_principal
    from lakeloom.config import Workspace
    from lakeloom.runtime.spark import SparkSessionProvider

    root = Path(tempfile.mkdtemp(prefix="lakeloom-gov-bench-"))
    ws = Workspace(root=root, settings={"spark": {"master": "local[2]"},
                                        "governance": {"groups": {"analysts": ["alice"]}}})
    provider = SparkSessionProvider(ws, app_name="governance-overhead")
    spark = provider.get()
    identity_jvm = spark.sparkContext._jvm.io.lakeloom.catalog.authz.Identity
    try:
        _setup(spark)
        set_principal(spark, "alice")
        spark.sql(_join_sql()).collect()  # warm up: snapshots, code generation
        small = [f"SELECT count(*) FROM main.bench.t{i % TABLES}" for i in range(args.queries)]
        for sql in small[:TABLES]:
            spark.sql(sql).collect()
        _report("20-table join", _measure(spark, identity_jvm.setEnabled, [_join_sql()] * args.joins, run=True))
        _report("small queries", _measure(spark, identity_jvm.setEnabled, small, run=True))
        _report("small queries, analysis", _measure(spark, identity_jvm.setEnabled, small, run=False))
        _report("20-table join, analysis",
                _measure(spark, identity_jvm.setEnabled, [_join_sql()] * args.joins, run=False))
    finally:
        set_principal(spark, None)
        provider.stop()


if __name__ == "__main__":
    main()
