"""`runs/list` latency with 100,000 runs in the store (goal p50 <= 50 ms).

Bulk-loads N finished runs (over 50 jobs) into a fresh SQLite store, starts the API on
127.0.0.1 (real uvicorn, real bearer-token auth), and times GET runs/list: the first
page, a job-filtered page, and a page deep in the history reached through page_token.

    .venv/bin/python benchmarks/serve_runs_list.py [--runs 100000] [--requests 200]
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    import uvicorn
    from sqlalchemy import insert

    from lakeloom.cli.serve import Service
    from lakeloom.config import Workspace
    from lakeloom.store import schema as s

    root = Path(tempfile.mkdtemp(prefix="lakeloom-runs-list-"))
    ws = Workspace(root=root, settings={"server": {"warm_spark": False}})
    ws.ensure_state_dir()
    service = Service(ws, scheduler=False)
    store = service.engine.store
    settings = {"name": "j", "tasks": [{"task_key": "t", "python_task": {"function": "os:getcwd"}}]}
    jobs = [store.create_job(f"job-{i}", {**settings, "name": f"job-{i}"}, creator="bench") for i in range(50)]
    t0 = time.perf_counter()
    base = int(time.time() * 1000) - args.runs * 1000
    rows = [dict(job_id=jobs[i % len(jobs)], run_name=f"job-{i % len(jobs)}", run_type="JOB_RUN",
                 trigger_type="PERIODIC", job_parameters_json="{}", settings_json=json.dumps(settings),
                 life_cycle_state="TERMINATED", result_state="SUCCESS", state_message="", start_time=base + i * 1000,
                 end_time=base + i * 1000 + 500, repair_count=0, cancel_requested=False,
                 termination_code="SUCCESS", termination_type="SUCCESS") for i in range(args.runs)]
    with store.engine.begin() as conn:
        for i in range(0, len(rows), 10_000):
            conn.execute(insert(s.runs), rows[i:i + 10_000])
    print(f"loaded {args.runs} runs in {time.perf_counter() - t0:.1f} s")
    token = store.create_token("bench", is_admin=True)[1]
    server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> tuple[float, dict]:
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        body = json.loads(conn.getresponse().read())
        return time.perf_counter() - start, body

    deep = "/api/2.2/jobs/runs/list?limit=25"
    for _ in range(200):  # walk 200 pages into the history for the deep case
        _, body = get(deep)
        deep = f"/api/2.2/jobs/runs/list?limit=25&page_token={body['next_page_token']}"
    cases = {"first page": "/api/2.2/jobs/runs/list?limit=25",
             "job filter": f"/api/2.2/jobs/runs/list?limit=25&job_id={jobs[7]}",
             "page 201 (page_token)": deep}
    for name, path in cases.items():
        get(path)
        times = sorted(get(path)[0] for _ in range(args.requests))
        p50 = statistics.median(times) * 1000
        print(f"{name:>22}: p50={p50:.1f} ms p95={times[int(0.95 * len(times)) - 1] * 1000:.1f} ms "
              f"(p50 / 50 ms goal = {p50 / 50:.2f})")
    server.should_exit = True


if __name__ == "__main__":
    main()
