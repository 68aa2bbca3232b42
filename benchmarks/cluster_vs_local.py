"""The 6-task Spark job on a two-worker standalone cluster vs ``local[2]``, and the scaling of a
CPU-heavy job from one worker to two.

A standalone cluster (master + 2 workers x 1 core / 1 GiB, ``lakeloom.runtime.standalone``)
is started on 127.0.0.1; each measurement is a whole ``lakeloom run`` process (driver start,
executors, the job, stop; cold: no warm daemon), alternated local / cluster ``--repeat`` times
after one warm-up each. Figures: median wall time of the process and median run duration from the run record.

- ratio: cluster / local[2] for the 6-task job of ``spark_job_ratio.py`` (goal <= 1.3), twice:
  as whole cold processes (each starts its driver, and on the cluster two executor JVMs, on the
  same 2 cores) and on an already started driver (one ``lakeloom daemon`` per mode holding a
  ``local[2]`` or a cluster application, as ``lakeloom serve`` would), which is the job itself;
- scaling: a CPU-heavy job (SHA-256 chains over ``--cpu-rows`` rows) with
  ``spark.cores.max=1`` (one executor on one worker) vs 2 (both workers).

    .venv/bin/python benchmarks/cluster_vs_local.py [--rows 1000000] [--cpu-rows 3000000] [--repeat 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))

SIX_TASKS = """
name: spark-bench
tasks:
  - {task_key: generate, python_task: {function: "spark_bench_tasks:generate", parameters: {root: "%(root)s", rows: "%(rows)s"}}}
  - {task_key: by_region, depends_on: [{task_key: generate}], python_task: {function: "spark_bench_tasks:by_region", parameters: {root: "%(root)s"}}}
  - {task_key: by_day, depends_on: [{task_key: generate}], python_task: {function: "spark_bench_tasks:by_day", parameters: {root: "%(root)s"}}}
  - {task_key: gold, depends_on: [{task_key: by_region}, {task_key: by_day}], python_task: {function: "spark_bench_tasks:gold", parameters: {root: "%(root)s"}}}
  - {task_key: check_counts, depends_on: [{task_key: gold}], python_task: {function: "spark_bench_tasks:check_counts", parameters: {root: "%(root)s"}}}
  - {task_key: report, depends_on: [{task_key: gold}], python_task: {function: "spark_bench_tasks:report", parameters: {root: "%(root)s"}}}
"""

CPU_JOB = """
name: cpu-heavy
tasks:
  - {task_key: hash, python_task: {function: "cluster_bench_cpu:hash_chain", parameters: {rows: "%(rows)s"}}}
"""

CPU_TASK = '''
import time

from lakeloom import context


def hash_chain(rows):
    spark = context().spark
    spark.range(8, numPartitions=8).count()  # executors up before the clock starts
    t = time.perf_counter()
    expr = "cast(id as string)"
    for _ in range(24):
        expr = f"sha2({expr}, 256)"
    n = spark.range(int(rows), numPartitions=8).selectExpr(f"{expr} AS h").where("h LIKE '0%'").count()
    print("matches", n, "STAGE_SECONDS=%.2f" % (time.perf_counter() - t))
'''


def run_once(ws: Path, job: str, env: dict[str, str], *, warm: bool = False) -> tuple[float, float, dict]:
    t = time.perf_counter()
    proc = subprocess.run([LAKELOOM, "--workspace", str(ws), "run", job, "--json"], cwd=ws, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": f"{HERE}:{ws}",
                                          "LAKELOOM_DAEMON": "1" if warm else "0", **env})
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({env}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    run = json.loads(proc.stdout[proc.stdout.index("{"):])
    return wall, run["run_duration"] / 1000, run


def warm_ratio(base: Path, args: argparse.Namespace, modes: dict[str, dict[str, str]]) -> None:
    """The 6-task job on already started drivers: one workspace and daemon per mode, each
    daemon's first run (application start, executors, first queries) not counted."""
    results: dict[str, list[float]] = {m: [] for m in modes}
    spaces = {}
    for mode in modes:
        ws = spaces[mode] = base / f"warm-{mode[:5]}"
        (ws / "conf").mkdir(parents=True)
        (ws / "conf" / "lakeloom.yml").write_text(
            "spark: {conf: {spark.databricks.delta.snapshotPartitions: '2'}}\n")
        (ws / "six.yml").write_text(SIX_TASKS % {"root": base / f"data-warm-{mode[:5]}", "rows": args.rows})
    try:
        for i in range(args.repeat + 2):
            for mode, env in modes.items():
                wall, dur, _ = run_once(spaces[mode], "six.yml", env, warm=True)
                note = "  (daemon start + warm-up, not counted)" if i < 2 else ""
                print(f"  6-task job, warm driver  {mode:9s} round {i}: process {wall:6.1f} s, run {dur:6.1f} s{note}")
                if i >= 2:
                    results[mode].append(wall)
    finally:
        for ws in spaces.values():
            subprocess.run([LAKELOOM, "--workspace", str(ws), "daemon", "stop"], capture_output=True)
    local, cluster = statistics.median(results["local[2]"]), statistics.median(results["cluster"])
    print(f"6-task job on a warm driver: local[2] {local:.1f} s, cluster {cluster:.1f} s, "
          f"ratio {cluster / local:.2f}  (goal <= 1.3)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cpu-rows", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from lakeloom.runtime.standalone import start, stop

    load = os.getloadavg()
    print(f"# cluster_vs_local  python {platform.python_version()}  cpus={os.cpu_count()}  "
          f"load avg {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        state = base / "cluster-state"
        info = start(state, workers=2, cores=1, memory="1g", port=0)
        try:
            ws = base / "ws"
            ws.mkdir()
            (ws / "six.yml").write_text(SIX_TASKS % {"root": base / "data", "rows": args.rows})
            (ws / "cpu.yml").write_text(CPU_JOB % {"rows": args.cpu_rows})
            (ws / "cluster_bench_cpu.py").write_text(CPU_TASK)
            # Both modes read Delta snapshots with the same partition count: lakeloom sets 2 for
            # local masters only (a cluster keeps Delta's 50), and this compares the engines,
            # not that default. The cluster test sets the same.
            (ws / "conf").mkdir()
            (ws / "conf" / "lakeloom.yml").write_text(
                "spark: {conf: {spark.databricks.delta.snapshotPartitions: '2'}}\n")
            modes = {"local[2]": {"LAKELOOM_SPARK_MASTER": "local[2]"},
                     "cluster": {"LAKELOOM_SPARK_MASTER": info.master_url}}
            results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
            for i in range(args.repeat + 1):
                for mode, env in modes.items():
                    wall, dur, _ = run_once(ws, "six.yml", env)
                    print(f"  6-task job  {mode:9s} round {i}: process {wall:6.1f} s, run {dur:6.1f} s"
                          + ("  (warm-up, not counted)" if i == 0 else ""))
                    if i:
                        results[mode].append((wall, dur))
            med = {m: (statistics.median(w for w, _ in r), statistics.median(x for _, x in r))
                   for m, r in results.items()}
            print(f"6-task job: local[2] process {med['local[2]'][0]:.1f} s / run {med['local[2]'][1]:.1f} s; "
                  f"cluster process {med['cluster'][0]:.1f} s / run {med['cluster'][1]:.1f} s")
            print(f"ratio cluster/local[2]: process {med['cluster'][0] / med['local[2]'][0]:.2f}, "
                  f"run {med['cluster'][1] / med['local[2]'][1]:.2f}  (goal <= 1.3)")
            warm_ratio(base, args, modes)
            scaling: dict[int, list[float]] = {1: [], 2: []}
            for i in range(args.repeat):
                for cores in (1, 2):
                    env = {"LAKELOOM_SPARK_MASTER": info.master_url}
                    (ws / "conf" / "lakeloom.yml").write_text(f"spark: {{conf: {{spark.cores.max: '{cores}'}}}}\n")
                    _, _, run = run_once(ws, "cpu.yml", env)
                    log = (ws / ".lakeloom" / "logs" / str(run["run_id"]) / "hash" / "0.log").read_text()
                    dur = float(log.split("STAGE_SECONDS=")[1].split()[0])
                    print(f"  CPU-heavy stage, {cores} worker(s) round {i + 1}: {dur:6.1f} s")
                    scaling[cores].append(dur)
            (ws / "conf" / "lakeloom.yml").unlink()
            one, two = statistics.median(scaling[1]), statistics.median(scaling[2])
            print(f"CPU-heavy stage: 1 worker {one:.1f} s, 2 workers {two:.1f} s, speed-up {one / two:.2f}x")
        finally:
            stop(state)
    load = os.getloadavg()
    print(f"# load avg at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
