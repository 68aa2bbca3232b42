"""Warm runs: whole ``lakeloom`` commands, cold (own JVM) vs warm (the workspace's daemon).

Three commands, each run as a whole process, cold (``--no-daemon``) and warm alternated in
every round on the same workspace (so both see the same tables and the same machine load):

- ``one``: a 1-task job whose task counts ``spark.range(10)``;
- ``demo``: the 18-task retail demo (``lakeloom run retail_daily``);
- ``pipeline``: a 6-dataset pipeline (a JSON streaming table, a streaming silver table, three
  materialized views, one SQL materialized view), ``pipeline run --full-refresh`` so every
  round does the same work. The pipeline of ``benchmarks/pipeline_vs_sdp.py`` when that
  script exists, else an equivalent one defined here.

Goals (issue 16): the 1-task job ends <= 2 s after the command starts when warm; the demo
takes <= 30 s warm. Prints per-round wall times, medians and warm/cold ratios, and for warm
commands the CPU seconds the daemon (its Python, JVM and Spark's Python workers) spent on
them: on a shared machine the wall time mostly measures the other processes, the CPU time
much less so (on an idle 2-core machine a command takes at least CPU/2 seconds).

    .venv/bin/python benchmarks/warm_runs.py [--repeat 3] [--rows 20000] [--only one,demo,pipeline]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
LAKELOOM = str(BIN / "lakeloom")
HERE = Path(__file__).resolve().parent
SCHEMA = "order_id BIGINT, customer_id BIGINT, region STRING, amount DOUBLE, order_ts STRING"

ONE_TASK = '''
from lakeloom import context

def count():
    print("rows", context().spark.range(10).count())
'''

PYTHON_SOURCE = '''
from pyspark import pipelines as dp
from pyspark.sql import SparkSession, functions as F

spark = SparkSession.active()


@dp.table
def orders_raw():
    return spark.readStream.format("json").schema("{schema}").load({landing!r})


@dp.table
def orders():
    return (spark.readStream.table("orders_raw").where("amount > 0")
            .withColumn("day", F.to_date("order_ts")))


@dp.materialized_view
def by_region():
    return spark.read.table("orders").groupBy("region").agg(F.sum("amount").alias("revenue"))


@dp.materialized_view
def by_day():
    return spark.read.table("orders").groupBy("day").agg(F.count("*").alias("n"))


@dp.materialized_view
def large_orders():
    return spark.read.table("orders").where("amount > 150")
'''

SQL_SOURCE = '''
CREATE MATERIALIZED VIEW by_customer AS
SELECT customer_id, count(*) AS n, sum(amount) AS spent FROM orders GROUP BY customer_id;
'''


def _pipeline_sources(landing: Path) -> dict[str, str]:
    """The sources of pipeline_vs_sdp.py when it exists (same datasets), else this file's."""
    sys.path.insert(0, str(HERE))
    try:
        import pipeline_vs_sdp as other  # type: ignore[import-not-found]

        return {"transformations/flows.py": other.PYTHON_SOURCE.format(landing=str(landing), schema=other.SCHEMA),
                "transformations/totals.sql": other.SQL_SOURCE}
    except (ImportError, AttributeError, KeyError, IndexError):
        return {"transformations/flows.py": PYTHON_SOURCE.format(landing=str(landing), schema=SCHEMA),
                "transformations/totals.sql": SQL_SOURCE}
    finally:
        sys.path.remove(str(HERE))


def _land(landing: Path, rows: int, files: int = 8) -> None:
    rnd = random.Random(16)
    landing.mkdir(parents=True, exist_ok=True)
    per = rows // files
    for f in range(files):
        lines = [json.dumps({"order_id": f * per + i, "customer_id": rnd.randrange(2000),
                             "region": rnd.choice(["north", "south", "east", "west"]),
                             "amount": round(rnd.uniform(-5, 200), 2),
                             "order_ts": f"2026-01-{1 + (i % 28):02d} 10:00:00"}) for i in range(per)]
        (landing / f"part-{f}.json").write_text("\n".join(lines) + "\n")


def _workspace(rows: int) -> Path:
    ws = Path(tempfile.mkdtemp(prefix="lakeloom-warm-bench-"))
    (ws / "conf").mkdir()
    (ws / "conf" / "lakeloom.yml").write_text("catalog: {default_catalog: main, catalogs: [main]}\n")
    (ws / "bench_one.py").write_text(ONE_TASK)
    (ws / "one.job.yml").write_text("name: one\ntasks:\n  - task_key: count\n"
                                    "    python_task: {function: 'bench_one:count'}\n")
    landing = ws / "landing"
    _land(landing, rows)
    pipe = ws / "pipe"
    for rel, text in _pipeline_sources(landing).items():
        (pipe / rel).parent.mkdir(parents=True, exist_ok=True)
        (pipe / rel).write_text(text)
    (pipe / "bench.pipeline.yml").write_text("name: bench\ncatalog: main\nschema: bench\n"
                                             "libraries: [{glob: {include: 'transformations/**'}}]\n")
    return ws


COMMANDS = {
    "one": ["run", "one.job.yml"],
    "demo": ["run", "retail_daily"],
    "pipeline": ["pipeline", "run", "--full-refresh", "pipe/bench.pipeline.yml"],
}


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (with their reaped children), from /proc."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    hz = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        times[int(entry)] = sum(int(x) for x in fields[11:15]) / hz
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += times.get(p, 0.0)
        todo.extend(children.get(p, []))
    return total


def _daemon_pid(ws: Path) -> int | None:
    try:
        return int(json.loads((ws / ".lakeloom" / "daemon" / "daemon.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def task_times(ws: Path, job: str | None = None) -> str:
    """Start offset and duration of every task of the latest run (of ``job``, when given), from
    the run store."""
    import sqlite3

    db = sqlite3.connect(ws / ".lakeloom" / "lakeloom.db")
    try:
        row = db.execute("SELECT r.run_id, r.start_time FROM runs r LEFT JOIN jobs j ON j.job_id = r.job_id "
                         "WHERE ? IS NULL OR j.name = ? ORDER BY r.run_id DESC LIMIT 1", (job, job)).fetchone()
        if row is None:
            return ""
        tasks = db.execute("SELECT task_key, start_time, end_time FROM task_runs WHERE run_id = ? "
                           "ORDER BY start_time", (row[0],)).fetchall()
    finally:
        db.close()
    return "\n".join(f"    {key:<24} +{(start - row[1]) / 1000:6.1f} s  {((end or start) - start) / 1000:6.1f} s"
                     for key, start, end in tasks)


def _timed(ws: Path, env: dict[str, str], args: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([LAKELOOM, "--workspace", str(ws), *args], cwd=ws, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"lakeloom {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--only", default="one,demo,pipeline")
    ap.add_argument("--warm-only", action="store_true", help="skip the cold commands (a loaded machine)")
    args = ap.parse_args()
    which = [w for w in args.only.split(",") if w]
    ws = _workspace(args.rows)
    env = {**os.environ, "LAKELOOM_DAEMON": "1", "PYTHONPATH": str(ws)}
    print(f"workspace {ws}; load average {os.getloadavg()[0]:.1f} at start")
    t0 = time.perf_counter()
    start = subprocess.run([LAKELOOM, "--workspace", str(ws), "daemon", "start"], env=env, capture_output=True,
                           text=True)
    print(f"daemon start (JVM + session + warm-up): {time.perf_counter() - t0:.1f} s  {start.stdout.strip()}")
    results: dict[str, dict[str, list[float]]] = {w: {"cold": [], "warm": [], "cpu": []} for w in which}
    daemon = _daemon_pid(ws)
    try:
        for name in which:  # one untimed warm pass: the first run of a workspace creates its tables
            _timed(ws, env, COMMANDS[name])
        for r in range(args.repeat):
            for name in which:
                order = ("cold", "warm") if r % 2 == 0 else ("warm", "cold")
                if args.warm_only:
                    order = ("warm",)
                for mode in order:
                    extra = ["--no-daemon"] if mode == "cold" else []
                    cmd = COMMANDS[name][:-1] + extra + COMMANDS[name][-1:]
                    cpu = tree_cpu(daemon) if daemon and mode == "warm" else 0.0
                    results[name][mode].append(_timed(ws, env, cmd))
                    if daemon and mode == "warm":
                        results[name]["cpu"].append(tree_cpu(daemon) - cpu)
                cpu_text = f"   (daemon CPU {results[name]['cpu'][-1]:.1f} s)" if results[name]["cpu"] else ""
                cold_text = f"{results[name]['cold'][-1]:7.1f}" if results[name]["cold"] else "      -"
                print(f"round {r + 1} {name:<9} cold {cold_text} s   "
                      f"warm {results[name]['warm'][-1]:6.1f} s{cpu_text}   load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        subprocess.run([LAKELOOM, "--workspace", str(ws), "daemon", "stop"], env=env, capture_output=True)
    if "demo" in which:
        print("last demo run, per task (start offset, duration):\n" + task_times(ws, "retail_daily"))
    print(f"\n{'command':<10}{'cold (s)':>10}{'warm (s)':>10}{'warm CPU (s)':>14}{'warm/cold':>11}   goal")
    goals = {"one": 2.0, "demo": 30.0}
    for name in which:
        cold = statistics.median(results[name]["cold"]) if results[name]["cold"] else float("nan")
        warm = statistics.median(results[name]["warm"])
        goal = f"warm <= {goals[name]:g} s: {'met' if warm <= goals[name] else 'NOT met'}" if name in goals else ""
        cpu = statistics.median(results[name]["cpu"]) if results[name]["cpu"] else float("nan")
        print(f"{name:<10}{cold:>10.1f}{warm:>10.1f}{cpu:>14.1f}{warm / cold:>11.2f}   {goal}")
    print(f"load average {os.getloadavg()[0]:.1f} at end (2 cores)")


if __name__ == "__main__":
    main()
