"""One pipeline source through Spark's own ``spark-pipelines run`` and ``lakeloom pipeline run``.

The same six datasets written with ``from pyspark import pipelines as dp`` (a JSON streaming
table, a streaming silver table, three materialized views and one SQL materialized view) over
``--rows`` rows in 8 JSON files, run as whole processes (interpreter, JVM and session start
included), alternated in each round:

- SDP full: ``spark-pipelines run`` in a fresh folder (it writes parquet to ``spark-warehouse``;
  its in-memory catalog forgets the tables, so it cannot run a second update);
- lakeloom full: ``lakeloom pipeline run`` on a fresh workspace (Delta tables);
- lakeloom +1%: one more JSON file with 1% of the rows landed, then the next update.

Goals (issue 16): lakeloom full / SDP full <= 1.0; lakeloom +1% / lakeloom full <= 0.3 at
200,000 rows (<= 0.1 at 10,000,000, ``--large``). Ratios are medians of per-round ratios.

    .venv/bin/python benchmarks/pipeline_vs_sdp.py [--rows 200000] [--repeat 3] [--large] [--keep]
                                                   [--no-cds-baseline] [--warm]

``--warm`` runs lakeloom's updates in the workspace's ``lakeloom daemon`` (started before each
round, untimed; the default when warm runs are on), so both updates run on a started driver.
``--updates N`` runs N +1% updates per round (the ratio is the first one's; later ones are
printed apart). ``--gap S`` lands the +1% file S seconds after lakeloom's full update ended (by default at once;
with SDP in the round, every other round runs SDP in between). ``--no-cds-baseline`` also runs lakeloom's full update with ``LAKELOOM_CDS=0`` in each round: the
cold driver without the class-data sharing archive that ``lakeloom setup`` builds.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
SCHEMA = "order_id BIGINT, customer_id BIGINT, region STRING, amount DOUBLE, order_ts STRING"
FILES = 8

PYTHON_SOURCE = '''
from pyspark import pipelines as dp
from pyspark.sql import SparkSession, functions as F

spark = SparkSession.active()
LANDING = {landing!r}


@dp.table
def bronze():
    return spark.readStream.format("json").schema("{schema}").load(LANDING)


@dp.table
def silver():
    return (spark.readStream.table("bronze").where("amount > 0")
            .select("order_id", "customer_id", "region", "amount", F.to_date("order_ts").alias("order_date")))


@dp.materialized_view
def revenue_by_region():
    return spark.read.table("silver").groupBy("region").agg(F.count("*").alias("orders"),
                                                           F.sum("amount").alias("revenue"))


@dp.materialized_view
def revenue_by_day():
    return spark.read.table("silver").groupBy("order_date").agg(F.count("*").alias("orders"),
                                                               F.sum("amount").alias("revenue"))


@dp.materialized_view
def big_orders():
    return spark.read.table("silver").where("amount > 190").select("order_id", "customer_id", "amount")
'''

SQL_SOURCE = '''
CREATE MATERIALIZED VIEW customer_totals AS
SELECT customer_id, count(*) AS orders, sum(amount) AS spent, max(amount) AS largest
FROM silver GROUP BY customer_id;
'''


def land(landing: Path, index: int, rows: int) -> None:
    """One JSON file of ``rows`` orders (deterministic per index)."""
    rng = random.Random(index)
    landing.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(rows):
        lines.append(json.dumps({
            "order_id": index * 10_000_000 + i, "customer_id": rng.randint(1, 20000),
            "region": rng.choice(("NA", "EU", "APAC", "LATAM")), "amount": round(rng.uniform(-5, 200), 2),
            "order_ts": f"2026-0{index % 9 + 1}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00"}))
    (landing / f"orders-{index:04d}.json").write_text("\n".join(lines) + "\n")


def write_sources(folder: Path, landing: Path) -> None:
    src = folder / "transformations"
    src.mkdir(parents=True, exist_ok=True)
    (src / "orders.py").write_text(PYTHON_SOURCE.format(landing=str(landing), schema=SCHEMA))
    (src / "customers.sql").write_text(SQL_SOURCE)


def run_sdp(root: Path, landing: Path, round_no: int) -> float:
    folder = root / f"sdp-{round_no}"
    write_sources(folder, landing)
    spec = {"name": "bench", "storage": (folder / "storage").as_uri(),
            "libraries": [{"glob": {"include": "transformations/**"}}]}
    (folder / "spark-pipeline.yml").write_text(yaml.safe_dump(spec))
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    t = time.perf_counter()
    proc = subprocess.run([str(BIN / "spark-pipelines"), "run", "--spec", "spark-pipeline.yml"], cwd=folder,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0 or "Run is COMPLETED" not in proc.stdout + proc.stderr:
        sys.exit(f"spark-pipelines failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def lakeloom_workspace(root: Path, round_no: int, landing: Path) -> Path:
    ws = root / f"lakeloom-{round_no}"
    folder = ws / "pipelines" / "bench"
    write_sources(folder, landing)
    spec = {"name": "bench", "catalog": "main", "schema": "bench",
            "libraries": [{"glob": {"include": "transformations/**"}}]}
    (folder / "bench.pipeline.yml").write_text(yaml.safe_dump(spec))
    (ws / "conf").mkdir(parents=True, exist_ok=True)
    (ws / "conf" / "lakeloom.yml").write_text(yaml.safe_dump({"spark": {"master": "local[2]"}}))
    return ws


WARM = False
"""``--warm``: lakeloom's commands run in the workspace's ``lakeloom daemon`` (started before the
round's full update, untimed) instead of ``--no-daemon``."""


def run_lakeloom(ws: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds of the whole process, the update's own seconds, and its output.

    Cold, like ``spark-pipelines``: ``--no-daemon``, so the process starts its own JVM (without
    it the first command of each round's workspace would leave a warm daemon behind, and the
    +1% update would run on it)."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", **(env or {})}
    if WARM:
        env.pop("CI", None)
        env.pop("LAKELOOM_DAEMON", None)
    t = time.perf_counter()
    mode = [] if WARM else ["--no-daemon"]
    proc = subprocess.run([str(BIN / "lakeloom"), "-w", str(ws), "pipeline", "run", *mode,
                           str(ws / "pipelines" / "bench" / "bench.pipeline.yml"), *extra],
                          cwd=ws, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    m = re.search(r"update \S+ COMPLETED in ([\d.]+)s", proc.stdout)
    if proc.returncode != 0 or m is None:
        sys.exit(f"lakeloom pipeline run failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, float(m.group(1)), proc.stdout


def daemon(ws: Path, action: str) -> None:
    """Start (waits until Spark is up) or stop the workspace's warm driver."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("CI", None)
    env.pop("LAKELOOM_DAEMON", None)
    subprocess.run([str(BIN / "lakeloom"), "-w", str(ws), "daemon", action], cwd=ws, env=env,
                   capture_output=True, text=True, check=True)


def flow_profile(ws: Path) -> str:
    """Seconds per flow and how each view was refreshed, from the last update's event log."""
    from lakeloom.pipelines.eventlog import read_events

    events = read_events(ws / ".lakeloom" / "pipelines" / "bench")
    last = events[-1]["update_id"]
    parts = []
    for e in events:
        if e["update_id"] != last:
            continue
        details = json.loads(e["details"] or "{}")
        if e["event_type"] == "flow_progress" and e["status"] == "COMPLETED":
            parts.append(f"{e['flow']} {details['flow_progress'].get('seconds', 0):.1f}s")
        elif e["event_type"] == "planning_information":
            info = details["planning_information"]["technique_information"]
            chosen = next(t["maintenance_type"] for t in info if t["is_chosen"]).removeprefix("MAINTENANCE_TYPE_")
            parts.append(f"[{e['flow']}: {chosen}]")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--large", action="store_true", help="10,000,000 rows (same as --rows 10000000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-sdp", action="store_true", help="lakeloom only (profiling)")
    parser.add_argument("--warm", action="store_true",
                        help="lakeloom's full and +1%% updates both in a started `lakeloom daemon` (warm driver)")
    parser.add_argument("--no-cds-baseline", action="store_true",
                        help="each round also runs lakeloom's full update without the class-data sharing archive")
    parser.add_argument("--gap", type=float, default=0.0, metavar="SECONDS",
                        help="seconds between lakeloom's full update and the +1%% file landing (new input "
                        "arrives later; a warm driver builds the written tables' Delta state meanwhile)")
    parser.add_argument("--updates", type=int, default=1, metavar="N",
                        help="+1%% updates per round, each after one more file (the first is the one the goal is "
                        "about; later ones run with the views' plans and the driver's compiled code at hand)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    rows = 10_000_000 if args.large else args.rows
    global WARM
    WARM = args.warm

    root = Path(tempfile.mkdtemp(prefix="lakeloom-vs-sdp-"))
    landing = root / "landing"
    t = time.perf_counter()
    for i in range(FILES):
        land(landing, i, rows // FILES)
    print(f"landed {FILES} files, {rows:,} rows in {time.perf_counter() - t:.1f}s under {root}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    sdp, full, inc, full_inner, inc_inner, plain, later = [], [], [], [], [], [], []
    try:
        for r in range(args.repeat):
            round_landing = root / f"landing-{r}"
            shutil.copytree(landing, round_landing)
            ws = lakeloom_workspace(root, r, round_landing)
            order = ["sdp", "lakeloom"] if r % 2 == 0 else ["lakeloom", "sdp"]
            if args.no_cds_baseline:
                order.insert(1, "plain")
            if WARM:
                daemon(ws, "start")
            for who in order:
                if who == "sdp" and not args.skip_sdp:
                    sdp.append(run_sdp(root, landing, r))
                elif who == "plain":
                    plain.append(run_lakeloom(lakeloom_workspace(root, 100 + r, round_landing),
                                              env={"LAKELOOM_CDS": "0"})[0])
                elif who == "lakeloom":
                    wall, inner, _ = run_lakeloom(ws)
                    full.append(wall)
                    full_inner.append(inner)
                    print(f"  lakeloom full, per flow: {flow_profile(ws)}", flush=True)
            for n in range(args.updates):
                time.sleep(args.gap)
                land(round_landing, FILES + args.updates * r + n, rows // 100)
                wall, inner, out = run_lakeloom(ws)
                if n == 0:
                    inc.append(wall)
                    inc_inner.append(inner)
                else:
                    later.append(wall)
                print(f"  lakeloom +1% #{n + 1} {wall:.1f}s, per flow: {flow_profile(ws)}", flush=True)
            if WARM:
                daemon(ws, "stop")
            line = (f"round {r + 1} (load {os.getloadavg()[0]:.1f}): "
                    + (f"SDP full {sdp[-1]:.1f}s, " if sdp else "")
                    + (f"lakeloom full without CDS {plain[-1]:.1f}s, " if plain else "")
                    + f"lakeloom full {full[-1]:.1f}s (update {full_inner[-1]:.1f}s), "
                    f"+1% {inc[-1]:.1f}s (update {inc_inner[-1]:.1f}s)")
            print(line, flush=True)
            if r == 0:
                print("  last update:\n    " + "\n    ".join(out.strip().splitlines()[1:]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    med = statistics.median
    print(f"\nmedians over {args.repeat} rounds, {rows:,} rows"
          + (f", +1% file landed {args.gap:g} s after the full update" if args.gap else "") + ":")
    if sdp:
        ratios = [f / s for f, s in zip(full, sdp)]
        print(f"  SDP full update             {med(sdp):7.1f} s")
        print(f"  lakeloom full update        {med(full):7.1f} s   lakeloom/SDP = {med(ratios):.2f} (goal <= 1.0)")
    else:
        print(f"  lakeloom full update        {med(full):7.1f} s")
    if plain:
        print(f"  lakeloom full, no CDS       {med(plain):7.1f} s   with/without the archive = "
              f"{med(f / p for f, p in zip(full, plain)):.2f}"
              + (f"; without it lakeloom/SDP = {med(p / s for p, s in zip(plain, sdp)):.2f}" if sdp else ""))
    goal = 0.1 if rows >= 10_000_000 else 0.3
    print(f"  lakeloom update after +1%   {med(inc):7.1f} s   +1%/full = {med(i / f for i, f in zip(inc, full)):.2f} "
          f"(goal <= {goal})")
    if later:
        print(f"  later +1% updates (#2..#{args.updates}) {med(later):5.1f} s   later/full = "
              f"{med(later) / med(full):.2f}")
    print(f"  (inside the process: full {med(full_inner):.1f} s, +1% {med(inc_inner):.1f} s; "
          f"the rest is interpreter, JVM and session start)")


if __name__ == "__main__":
    main()
