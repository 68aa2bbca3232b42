"""What a job cluster in its own process costs: start-up, and per task.

Runs N no-op ``python_task``s (a chain) three ways in one process, on fresh workspaces:
no cluster (baseline), on a job cluster the run's session can take (in process), and on a
job cluster that needs its own process (an environment variable the engine's process lacks;
no task uses Spark, so no JVM starts and only the process and its channel are measured).

    .venv/bin/python benchmarks/job_cluster_overhead.py [--tasks 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the cluster process imports this module too


def noop() -> None:
    return None


def build_job(n: int, mode: str) -> Any:
    from lakeloom.spec.models import Job

    clusters = {"in_process": {"spark_conf": {"spark.sql.shuffle.partitions": "4"}},
                "own_process": {"spark_env_vars": {"LAKELOOM_BENCH_CLUSTER": "own"}}}
    compute = {"job_cluster_key": "c"} if mode in clusters else {}
    fn = {"function": "job_cluster_overhead:noop"}
    tasks = [{"task_key": "t0", "python_task": fn, **compute}]
    tasks += [{"task_key": f"t{i}", "depends_on": [{"task_key": f"t{i - 1}"}], "python_task": fn, **compute}
              for i in range(1, n)]
    job_clusters = [{"job_cluster_key": "c", "new_cluster": clusters[mode]}] if mode in clusters else []
    return Job.model_validate({"name": f"bench-{mode}", "tasks": tasks, "job_clusters": job_clusters})


def run_once(n: int, mode: str) -> tuple[float, str]:
    from lakeloom.config import load_workspace
    from lakeloom.engine.api import Engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(load_workspace(tmp))
        t = time.perf_counter()
        run = engine.submit(build_job(n, mode))
        elapsed = time.perf_counter() - t
        engine.store.close()
    return elapsed, run["state"]["result_state"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    load = os.getloadavg()[0]
    print(f"{args.tasks} chained no-op tasks, median of {args.repeat}; load average {load:.1f} on "
          f"{os.cpu_count()} cores")
    medians: dict[str, float] = {}
    for mode in ("baseline", "in_process", "own_process"):
        times = []
        for _ in range(args.repeat):
            elapsed, state = run_once(args.tasks, mode)
            assert state == "SUCCESS", (mode, state)
            times.append(elapsed)
        medians[mode] = statistics.median(times)
        print(f"{mode:12s} {medians[mode]:7.2f} s  ({1000 * medians[mode] / args.tasks:6.2f} ms/task)"
              f"  ratio vs baseline {medians[mode] / medians['baseline']:.2f}")
    # One small run isolates the process start-up from the per-task cost.
    startup = statistics.median(run_once(1, "own_process")[0] - run_once(1, "baseline")[0]
                                for _ in range(args.repeat))
    per_task = (medians["own_process"] - medians["baseline"] - startup) / args.tasks
    print(f"own process: start-up {startup:.2f} s, then {1000 * per_task:.2f} ms more per task than in process")


if __name__ == "__main__":
    main()
