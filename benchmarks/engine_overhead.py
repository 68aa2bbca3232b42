"""Per-task orchestration overhead of the run engine.

Runs 100, 1,000 and 10,000 no-op ``python_task``s in two shapes (a chain, where each
task depends on the previous one, and a fan-out, where every task depends on one root)
through ``Engine.submit`` on a fresh workspace with the default SQLite store (every
store write included), and compares against a plain Python loop calling the same
function in the same process.

Goal (issue 2, section 10): median overhead <= 0.5 ms per task, and the 10,000 figure
within 1.5x of the 100 figure.

    .venv/bin/python benchmarks/engine_overhead.py [--sizes 100,1000,10000] [--repeat 3] [--profile N]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def noop() -> None:
    return None


def build_job(n: int, shape: str):  # type: ignore[no-untyped-def]
    from lakeloom.spec.models import Job

    fn = {"function": "__main__:noop"}
    tasks = [{"task_key": "t0", "python_task": fn}]
    for i in range(1, n):
        dep = f"t{i - 1}" if shape == "chain" else "t0"
        tasks.append({"task_key": f"t{i}", "depends_on": [{"task_key": dep}], "python_task": fn})
    return Job.model_validate({"name": f"bench-{shape}-{n}", "tasks": tasks})


def baseline_loop(n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        noop()
    return time.perf_counter() - t


def run_engine(n: int, shape: str, root: Path) -> tuple[float, dict]:
    from lakeloom.config import load_workspace
    from lakeloom.engine.api import Engine

    job = build_job(n, shape)
    engine = Engine.open(load_workspace(root))
    t = time.perf_counter()
    run = engine.submit(job)
    elapsed = time.perf_counter() - t
    engine.store.close()
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    assert len(run["tasks"]) == n
    return elapsed, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--shapes", default="chain,fanout")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", type=int, default=0, help="profile one run of this size (chain) and print hot spots")
    args = ap.parse_args()
    logging.getLogger("lakeloom").setLevel(logging.ERROR)
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    print(f"# engine_overhead  python {platform.python_version()}  {platform.platform()}  cpus={os.cpu_count()}")
    if args.profile:
        with tempfile.TemporaryDirectory() as d:
            prof = cProfile.Profile()
            prof.enable()
            run_engine(args.profile, "chain", Path(d))
            prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        print(buf.getvalue())
        return
    results: dict[tuple[str, int], float] = {}
    print(f"{'shape':8} {'tasks':>6} {'engine s (median)':>18} {'loop s':>10} {'overhead ms/task':>17} "
          f"{'ratio vs loop':>14}")
    for shape in shapes:
        for n in sizes:
            times, loops = [], []
            for _ in range(args.repeat if n < 10000 else max(1, args.repeat - 1)):
                with tempfile.TemporaryDirectory() as d:
                    loops.append(baseline_loop(n))
                    elapsed, _ = run_engine(n, shape, Path(d))
                    times.append(elapsed)
            eng, loop = statistics.median(times), statistics.median(loops)
            per_task_ms = (eng - loop) / n * 1000
            results[(shape, n)] = per_task_ms
            print(f"{shape:8} {n:>6} {eng:>18.3f} {loop:>10.6f} {per_task_ms:>17.3f} {eng / loop:>14.0f}x",
                  flush=True)
    print()
    for shape in shapes:
        if (shape, 100) in results and (shape, 10000) in results:
            growth = results[(shape, 10000)] / results[(shape, 100)]
            print(f"{shape}: 10,000-task overhead is {growth:.2f}x the 100-task overhead (goal <= 1.5x)")
    worst = max(results.values())
    print(f"worst median overhead: {worst:.3f} ms/task (goal <= 0.5 ms) -> {'MET' if worst <= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
