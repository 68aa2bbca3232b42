"""Where a warm run spends its work: one command run N times on one warm driver, in this process.

What ``lakeloom daemon`` does for each command (a ``newSession()`` of the warm session, the
click command on a thread), without the socket, so the figures are the driver's own: wall
seconds, CPU seconds of this process and its children (JVM, Spark's Python workers), the
number of classes Spark's code generator compiled (Janino; a cache hit compiles nothing),
and the run's per-task start offsets and durations from the run store.

    .venv/bin/python benchmarks/warm_profile.py WORKSPACE "run retail_daily" [--runs 3] [--conf k=v ...]

The first run on a fresh driver also pays JIT warm-up and, on a fresh workspace, table
creation; compare later runs.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from warm_runs import task_times, tree_cpu  # the benchmarks folder is on sys.path when run as a script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workspace")
    ap.add_argument("command", help='the lakeloom arguments, e.g. "run retail_daily"')
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conf", action="append", default=[], help="extra Spark setting key=value")
    args = ap.parse_args()

    from lakeloom.cli import warm
    from lakeloom.cli.daemon.host import _invoke
    from lakeloom.cli.daemon.process import warm_driver
    from lakeloom.config import load_workspace
    from lakeloom.plugin_manager import plugin_spark_conf
    from lakeloom.runtime.derived_session import DerivedSession
    from lakeloom.runtime.spark import SparkSessionProvider

    root = Path(args.workspace).resolve()
    ws = load_workspace(root, None)
    ws.ensure_state_dir()
    conf = plugin_spark_conf(ws)
    conf.update(dict(kv.split("=", 1) for kv in args.conf))
    provider = SparkSessionProvider(ws, plugin_conf=conf, app_name="lakeloom-warm-profile")
    t0 = time.perf_counter()
    spark = provider.get()
    warm_driver(spark)
    print(f"driver warm in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
    metrics = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics
    try:
        for i in range(args.runs):
            compiled, cpu, t0 = metrics.METRIC_COMPILATION_TIME().getCount(), tree_cpu(os.getpid()), time.perf_counter()
            with warm.running(warm.WarmCommand(spark=DerivedSession(provider.get, lambda: {}))):
                code = _invoke(["--workspace", str(root), *args.command.split()])
            print(f"run {i + 1}: exit {code}, wall {time.perf_counter() - t0:.1f} s, "
                  f"CPU {tree_cpu(os.getpid()) - cpu:.1f} s, "
                  f"classes compiled {metrics.METRIC_COMPILATION_TIME().getCount() - compiled}, "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
            print(task_times(root), flush=True)
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
