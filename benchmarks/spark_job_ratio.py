"""A 6-task Spark job through lakeloom vs the same work as one hand-made PySpark script.

Both use the same, already started, Delta-enabled SparkSession (the one lakeloom's
session provider creates), so the figure is lakeloom's cost on top of the Spark work:
DAG scheduling, store writes, log capture, job groups and FAIR pools per task. The two
are alternated ``--repeat`` times after one warm-up each; medians are compared.

Job: generate -> (by_region || by_day) -> gold -> (check_counts || report).
Goal (issue 2, section 10): lakeloom / hand-made <= 1.10.

    .venv/bin/python benchmarks/spark_job_ratio.py [--rows 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spark_bench_tasks as steps  # noqa: E402


def job_model(root: str, rows: int):  # type: ignore[no-untyped-def]
    from lakeloom.spec.models import Job

    def t(key: str, deps: list[str], **params: object) -> dict:
        body: dict = {"task_key": key, "python_task": {"function": f"spark_bench_tasks:{key}",
                                                       "parameters": {"root": root, **params}}}
        if deps:
            body["depends_on"] = [{"task_key": d} for d in deps]
        return body

    return Job.model_validate({"name": "spark-bench", "tasks": [
        t("generate", [], rows=rows), t("by_region", ["generate"]), t("by_day", ["generate"]),
        t("gold", ["by_region", "by_day"]), t("check_counts", ["gold"]), t("report", ["gold"])]})


def hand_made(root: str, rows: int) -> None:
    steps.generate(root, rows)
    steps.by_region(root)
    steps.by_day(root)
    steps.gold(root)
    steps.check_counts(root)
    steps.report(root)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.getLogger("lakeloom").setLevel(logging.ERROR)
    from lakeloom.config import load_workspace
    from lakeloom.engine.api import Engine

    print(f"# spark_job_ratio  python {platform.python_version()}  {platform.platform()}  cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory() as d:
        engine = Engine.open(load_workspace(Path(d) / "ws"))
        t = time.perf_counter()
        spark = engine.spark()
        print(f"session start (not counted): {time.perf_counter() - t:.1f} s, Spark {spark.version}")
        root_l, root_h = f"{d}/lakeloom", f"{d}/handmade"
        job = job_model(root_l, args.rows)
        ours, theirs = [], []
        try:
            for i in range(args.repeat + 1):
                t = time.perf_counter()
                hand_made(root_h, args.rows)
                h = time.perf_counter() - t
                t = time.perf_counter()
                run = engine.submit(job)
                lk = time.perf_counter() - t
                assert run["state"]["result_state"] == "SUCCESS", [x["state"] for x in run["tasks"]]
                label = "warm-up" if i == 0 else f"round {i}"
                print(f"{label:8}: hand-made {h:.2f} s   lakeloom {lk:.2f} s   ratio {lk / h:.3f}", flush=True)
                if i:
                    theirs.append(h)
                    ours.append(lk)
        finally:
            engine.stop_spark()
            engine.store.close()
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median: hand-made {statistics.median(theirs):.2f} s, lakeloom {statistics.median(ours):.2f} s, "
          f"ratio {ratio:.3f} (goal <= 1.10) -> {'MET' if ratio <= 1.10 else 'MISSED'}")


if __name__ == "__main__":
    main()
