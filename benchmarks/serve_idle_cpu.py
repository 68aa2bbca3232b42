"""Idle CPU of a real `lakeloom serve` process with 1,000 scheduled jobs (goal <= 2% of a core).

Creates 1,000 jobs with daily Quartz schedules (none due during the measurement), starts
`lakeloom serve --no-warm-spark`, waits for start-up, then reads the process's CPU time
(utime + stime from /proc) over the measurement window.

    .venv/bin/python benchmarks/serve_idle_cpu.py [--jobs 1000] [--seconds 60]
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    from lakeloom.config import load_workspace
    from lakeloom.store.store import RunStore

    root = Path(tempfile.mkdtemp(prefix="lakeloom-idle-"))
    (root / "conf").mkdir()
    (root / "conf" / "lakeloom.yml").write_text("server: {warm_spark: false}\n")
    ws = load_workspace(root)
    ws.ensure_state_dir()
    store = RunStore(ws.store_url)
    now = time.gmtime()
    rnd = random.Random(7)
    for i in range(args.jobs):
        hour = (now.tm_hour + 2 + rnd.randrange(20)) % 24  # never due in the next hour
        cron = f"{rnd.randrange(60)} {rnd.randrange(60)} {hour} * * ?"
        store.create_job(f"job-{i}", {"name": f"job-{i}", "schedule": {"quartz_cron_expression": cron,
                                                                       "timezone_id": "UTC"},
                                      "tasks": [{"task_key": "t", "python_task": {"function": "os:getcwd"}}]},
                         creator="bench")
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "lakeloom.cli.main", "--workspace", str(root), "serve",
                             "--port", str(port), "--no-warm-spark", "--log-level", "warning"])
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(5)  # let start-up work (first evaluation of every job) finish
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.seconds)
        c1, t1 = cpu_seconds(proc.pid), time.monotonic()
    finally:
        proc.terminate()
        proc.wait(30)
    share = (c1 - c0) / (t1 - t0)
    print(f"jobs={args.jobs} window={t1 - t0:.1f} s cpu={c1 - c0:.2f} s -> {share * 100:.2f}% of a core")
    print(f"goal <= 2% of a core: {'met' if share <= 0.02 else 'NOT met'} (ratio to goal = {share / 0.02:.2f})")


if __name__ == "__main__":
    main()
