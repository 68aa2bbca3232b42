"""Authorization overhead of lakeloom's governance: the same workloads with enforcement on and
off, in one run (issue 12's goal: <= 5 %).

Two workloads on 20 small Delta tables in ``main.bench``, run as a non-admin principal
(``alice``, group ``analysts``) who holds SELECT through a schema grant, so every check walks
the identity, the grants, the owners and the USE privileges of the parents, and every allowed
read is audited:

- a 20-table join (``--joins`` executions per mode), and
- ``--queries`` small queries (``SELECT count(*) FROM main.bench.t<i % 20>``) per mode.

Both modes run in one JVM, switched with ``Identity.setEnabled``: the check runs inside each
statement's analysis, and separate processes would add JVM start and Delta snapshot loading that
differ more between two processes than the checks cost. Both modes are warmed up first; then they
alternate in blocks whose order flips every block, so the machine's load drifts over both alike.
Each workload is timed twice: executed (``collect()``) and analysis only (``spark.sql`` analyzes
eagerly, and the check is part of analysis), which isolates the checks from execution noise.

Last, the check itself is timed on its own: ``Enforcement.checkPlan`` on each workload's analyzed
plan, called through py4j, minus a py4j call that does nothing (``Identity.currentUser``).

    .venv/bin/python benchmarks/governance_overhead.py                 # ~10-30 min on a loaded machine
    .venv/bin/python benchmarks/governance_overhead.py --executed 200 --joins 4   # loaded machine
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

TABLES = 20
BLOCK = 10


def _setup(spark: Any) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.bench")
    for i in range(TABLES):
        spark.sql(f"CREATE OR REPLACE TABLE main.bench.t{i} AS SELECT id, id * {i} AS v{i} FROM range(100)")
    spark.sql("GRANT USE CATALOG ON CATALOG main TO analysts")
    spark.sql("GRANT USE SCHEMA, SELECT ON SCHEMA main.bench TO analysts")


def _join_sql() -> str:
    joins = " ".join(f"JOIN main.bench.t{i} USING (id)" for i in range(1, TABLES))
    return f"SELECT count(*) FROM main.bench.t0 {joins}"


def _measure(spark: Any, switch: Callable[[bool], None], statements: list[str], run: bool) -> dict[bool, list[float]]:
    """Seconds per statement, by mode (True: governance on), over alternating blocks."""
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
    total_on, total_off = sum(times[True]), sum(times[False])
    print(f"{label:<30} n={len(times[True]):>5}/mode  median off {off * 1000:9.2f} ms  on {on * 1000:9.2f} ms  "
          f"ratio {on / off:5.3f} | total off {total_off:7.2f} s  on {total_on:7.2f} s  ratio {total_on / total_off:5.3f}",
          flush=True)


def _check_cost(spark: Any, sql: str, calls: int) -> tuple[float, float]:
    """Median µs of one ``Enforcement.checkPlan`` on ``sql``'s analyzed plan, and of an empty py4j call."""
    jvm = spark.sparkContext._jvm
    authz = jvm.io.lakeloom.catalog.authz
    plan = spark.sql(sql)._jdf.queryExecution().analyzed()
    access = authz.Access.current().get()
    check, empty = [], []
    for _ in range(calls):
        t0 = time.perf_counter()
        authz.Enforcement.checkPlan(access, plan)
        t1 = time.perf_counter()
        authz.Identity.currentUser()
        t2 = time.perf_counter()
        check.append(t1 - t0)
        empty.append(t2 - t1)
    return statistics.median(check) * 1e6, statistics.median(empty) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=1000, help="small queries per mode (default 1000)")
    parser.add_argument("--executed", type=int, default=None,
                        help="how many of the small queries also run executed (default: all)")
    parser.add_argument("--joins", type=int, default=20, help="20-table joins per mode (default 20)")
    parser.add_argument("--check-calls", type=int, default=300, help="direct checkPlan calls per workload")
    args = parser.parse_args()

    from lakeloom.catalog.identity import set_principal
    from lakeloom.config import Workspace
    from lakeloom.runtime.spark import SparkSessionProvider

    root = Path(tempfile.mkdtemp(prefix="lakeloom-gov-bench-"))
    ws = Workspace(root=root, settings={"spark": {"master": "local[2]"},
                                        "governance": {"groups": {"analysts": ["alice"]}}})
    provider = SparkSessionProvider(ws, app_name="governance-overhead")
    spark = provider.get()
    switch = spark.sparkContext._jvm.io.lakeloom.catalog.authz.Identity.setEnabled
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    try:
        _setup(spark)
        set_principal(spark, "alice")
        join = _join_sql()
        small = [f"SELECT count(*) FROM main.bench.t{i % TABLES}" for i in range(args.queries)]
        for mode in (True, False, True, False):  # warm up: snapshots, code generation, both modes
            switch(mode)
            spark.sql(join).collect()
            for sql in small[:TABLES]:
                spark.sql(sql).collect()
        switch(True)
        _report("20-table join, executed", _measure(spark, switch, [join] * args.joins, run=True))
        _report("small queries, executed", _measure(spark, switch, small[:args.executed], run=True))
        _report("20-table join, analysis", _measure(spark, switch, [join] * max(args.joins * 5, 50), run=False))
        _report("small queries, analysis", _measure(spark, switch, small, run=False))
        for label, sql in (("20-table join", join), ("small query", small[0])):
            check, empty = _check_cost(spark, sql, args.check_calls)
            print(f"checkPlan alone, {label:<14} {check:8.1f} µs per call (py4j call doing nothing: {empty:6.1f} µs; "
                  f"check ≈ {max(check - empty, 0):7.1f} µs)", flush=True)
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    finally:
        set_principal(spark, None)
        provider.stop()


if __name__ == "__main__":
    main()
