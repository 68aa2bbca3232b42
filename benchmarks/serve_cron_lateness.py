"""Lateness of cron fires in `lakeloom serve` (goal: p99 <= 1 s).

Deploys N jobs with a seconds-level Quartz schedule (`* * * * * ?`, every second) and a
no-op python_task, runs the real scheduler + executor (SystemClock) for D seconds, then
reports, per fire: claim lateness (tick claimed - scheduled time) and start lateness
(run RUNNING - scheduled time), p50 / p99 / max.

    .venv/bin/python benchmarks/serve_cron_lateness.py [--jobs 20] [--seconds 30]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def noop() -> None:
    """The task of every job."""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    from lakeloom.cli.serve import Service
    from lakeloom.config import Workspace

    root = Path(tempfile.mkdtemp(prefix="lakeloom-lateness-"))
    ws = Workspace(root=root, settings={"server": {"warm_spark": False, "job_refresh_seconds": 2}})
    ws.ensure_state_dir()
    service = Service(ws, scheduler=True)
    store = service.engine.store
    for i in range(args.jobs):
        store.create_job(f"tick-{i}", {"name": f"tick-{i}", "max_concurrent_runs": 100,
                                       "schedule": {"quartz_cron_expression": "* * * * * ?", "timezone_id": "UTC"},
                                       "tasks": [{"task_key": "t", "python_task": {"function": "serve_cron_lateness:noop"}}]},
                         creator="bench")
    service.start()
    time.sleep(args.seconds)
    service.stop()
    claim, start = [], []
    for job in store.list_jobs():
        for tick in store.ticks(job["job_id"]):
            claim.append((tick["claimed_time"] - tick["scheduled_time"]) / 1000)
            if tick["run_id"]:
                run = store.get_run(tick["run_id"])
                start.append((run["start_time"] - tick["scheduled_time"]) / 1000)
    print(f"jobs={args.jobs} seconds={args.seconds} fires={len(claim)} "
          f"(expected ~{int(args.jobs * args.seconds)})")
    for name, values in (("claim", claim), ("start", start)):
        print(f"{name:>5} lateness: p50={statistics.median(values) * 1000:.1f} ms "
              f"p99={pct(values, 99) * 1000:.1f} ms max={max(values) * 1000:.1f} ms")
    p99 = pct(start, 99)
    print(f"goal p99 <= 1 s: {'met' if p99 <= 1 else 'NOT met'} (p99 / goal = {p99 / 1:.3f})")
    print(json.dumps({"fires": len(claim), "start_p50_ms": statistics.median(start) * 1000,
                      "start_p99_ms": p99 * 1000}))


if __name__ == "__main__":
    main()
