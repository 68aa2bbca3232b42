"""Dashboard render time with 100,000 runs in the store (goal: runs page and run detail
<= 200 ms server time).

Bulk-loads N finished runs over 50 jobs (3 task attempts each, 1 in 10 runs failed) into a
fresh SQLite store, plus one large run (30 tasks, retries, a repair, a 5 MB log), starts
the real app under uvicorn on 127.0.0.1, signs in through the login form and times the
pages. "server" is the app's own ``Server-Timing`` figure (routing, queries, templates),
"wall" the full loopback round trip.

    .venv/bin/python benchmarks/dashboard_render.py [--runs 100000] [--requests 60]
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode


def _load(service: Any, n_runs: int) -> dict[str, Any]:
    from sqlalchemy import insert

    from lakeloom.store import schema as s

    store = service.engine.store
    tasks = [{"task_key": f"t{i}", "python_task": {"function": "os:getcwd"},
              **({"depends_on": [{"task_key": f"t{i - 1}"}]} if i else {})} for i in range(3)]
    settings = {"name": "j", "tasks": tasks}
    jobs = [store.create_job(f"job-{i}", {**settings, "name": f"job-{i}"}, creator="bench",
                             ) for i in range(50)]
    base = int(time.time() * 1000) - n_runs * 1000
    runs, attempts = [], []
    for i in range(n_runs):
        failed = i % 10 == 0
        start = base + i * 1000
        runs.append(dict(run_id=i + 1, job_id=jobs[i % 50], run_name=f"job-{i % 50}", run_type="JOB_RUN",
                         trigger_type="PERIODIC" if i % 4 else "ONE_TIME", job_parameters_json="{}",
                         settings_json=json.dumps(settings), life_cycle_state="TERMINATED",
                         result_state="FAILED" if failed else "SUCCESS", state_message="", start_time=start,
                         end_time=start + 900, repair_count=0, cancel_requested=False))
        for k in range(3):
            bad = failed and k == 2
            attempts.append(dict(run_id=i + 1, task_key=f"t{k}", attempt_number=0, execution_count=1,
                                 life_cycle_state="TERMINATED", result_state="FAILED" if bad else "SUCCESS",
                                 state_message="boom" if bad else "", start_time=start + k * 300,
                                 end_time=start + k * 300 + 250))
    with store.engine.begin() as conn:
        for i in range(0, len(runs), 10_000):
            conn.execute(insert(s.runs), runs[i:i + 10_000])
        for i in range(0, len(attempts), 30_000):
            conn.execute(insert(s.task_runs), attempts[i:i + 30_000])
    big_settings = {"name": "big", "tasks": [{"task_key": f"step_{i}", "python_task": {"function": "os:getcwd"},
                                              **({"depends_on": [{"task_key": f"step_{i // 2}"}]} if i else {})}
                                             for i in range(30)]}
    big = store.create_run(job_id=jobs[0], run_name="big", settings=big_settings, job_parameters={"day": "mon"})
    logs = service.engine.workspace.logs_dir
    selected = None
    for i in range(30):
        for attempt in range(2 if i % 5 == 0 else 1):
            trid = store.start_task_run(big, f"step_{i}", attempt_number=attempt, execution_count=attempt + 1,
                                        repair_id=None)
            log = logs / str(big) / f"step_{i}" / f"{attempt}.log"
            if i == 7:
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text("".join(f"{j:08d} INFO processing batch {j} of the input\n" for j in range(110_000)))
                selected = trid
            store.update_task_run(trid, life_cycle_state="TERMINATED", result_state="SUCCESS", end_time=None,
                                  log_path=str(log) if i == 7 else None,
                                  params_json=json.dumps({"day": "mon", "i": str(i)}))
    rep = store.create_repair(big, ["step_3"])
    trid = store.start_task_run(big, "step_3", attempt_number=1, execution_count=2, repair_id=rep)
    store.update_task_run(trid, life_cycle_state="TERMINATED", result_state="SUCCESS")
    store.finish_repair(rep, "SUCCESS")
    store.update_run(big, life_cycle_state="TERMINATED", result_state="SUCCESS", end_time=int(time.time() * 1000))
    return {"jobs": jobs, "big": big, "selected": selected, "typical": n_runs // 2, "deep": runs[n_runs - 10_000]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    import uvicorn

    from lakeloom.cli.serve import Service
    from lakeloom.config import Workspace

    root = Path(tempfile.mkdtemp(prefix="lakeloom-dashboard-"))
    ws = Workspace(root=root, settings={"server": {"warm_spark": False}})
    ws.ensure_state_dir()
    service = Service(ws, scheduler=False)
    t0 = time.perf_counter()
    data = _load(service, args.runs)
    print(f"loaded {args.runs} runs ({3 * args.runs} task attempts) in {time.perf_counter() - t0:.1f} s")
    store = service.engine.store
    tokens = {"admin": store.create_token("root", is_admin=True)[1], "bench": store.create_token("bench")[1]}
    server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]

    def session(token: str) -> tuple[http.client.HTTPConnection, str]:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/login")
        resp = conn.getresponse()
        page = resp.read().decode()
        nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        login_cookie = resp.getheader("set-cookie", "").split(";")[0]
        conn.request("POST", "/login", body=urlencode({"token": token, "nonce": nonce, "next": "/"}),
                     headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": login_cookie})
        resp = conn.getresponse()
        resp.read()
        cookie = next(v for k, v in resp.getheaders() if k.lower() == "set-cookie" and "lakeloom_session" in v)
        return conn, cookie.split(";")[0]

    deep = data["deep"]
    cases = {
        "runs page, first page": ("admin", "/runs"),
        "runs page, job filter": ("admin", f"/runs?job_id={data['jobs'][7]}"),
        "runs page, state=FAILED": ("admin", "/runs?state=FAILED"),
        "runs page, trigger + state": ("admin", "/runs?trigger=ONE_TIME&state=FAILED"),
        "runs page, 10,000 runs deep": ("admin", f"/runs?after={deep['start_time']}:{deep['run_id']}"),
        "runs page, non-admin (50 jobs)": ("bench", "/runs"),
        "run detail, 3 tasks": ("admin", f"/runs/{data['typical']}"),
        "run detail, 30 tasks + 5 MB log": ("admin", f"/runs/{data['big']}?attempt={data['selected']}"),
        "run detail, log search": ("admin", f"/runs/{data['big']}?attempt={data['selected']}&q=batch%204242"),
        "run live fragment, 30 tasks": ("admin", f"/runs/{data['big']}/live"),
        "jobs page, 50 jobs": ("admin", "/"),
    }
    sessions = {who: session(tok) for who, tok in tokens.items()}
    print(f"{'page':<34} {'server p50':>11} {'p95':>8} {'wall p50':>10}   goal 200 ms")
    for name, (who, path) in cases.items():
        conn, cookie = sessions[who]
        server_ms, wall_ms = [], []
        for i in range(args.requests + 3):
            start = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            resp = conn.getresponse()
            body = resp.read()
            wall = (time.perf_counter() - start) * 1000
            assert resp.status == 200, (path, resp.status, body[:300])
            if i >= 3:  # warm-up: template compilation, caches
                server_ms.append(float(resp.getheader("server-timing", "app;dur=0").split("dur=")[1]))
                wall_ms.append(wall)
        server_ms.sort()
        p50 = statistics.median(server_ms)
        print(f"{name:<34} {p50:>8.1f} ms {server_ms[int(0.95 * len(server_ms)) - 1]:>5.1f} ms "
              f"{statistics.median(wall_ms):>7.1f} ms   ratio {p50 / 200:.2f}")
    server.should_exit = True


if __name__ == "__main__":
    main()
