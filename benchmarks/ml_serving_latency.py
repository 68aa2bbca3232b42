"""Serving latency, single-row requests: a lakeloom serve endpoint vs `mlflow models serve`
on the same registered scikit-learn model, both in subprocesses on 127.0.0.1, measured in
the same run. Goal: lakeloom's p50 no worse than 1.0x MLflow's.

    .venv/bin/python benchmarks/ml_serving_latency.py [--requests 1000]
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

BIN = Path(sys.executable).parent
ROW = {"dataframe_split": {"columns": ["f1", "f2", "f3"], "data": [[0.3, 0.7, 0.1]]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def register(root: Path) -> str:
    """Train and register main.bench.model v1 (@champion); return its storage path."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from lakeloom.config import load_workspace
    from lakeloom.plugins.ml.registry import model_location
    from lakeloom.plugins.ml.store import prepare

    uri = prepare(load_workspace(root))
    mlflow.set_tracking_uri(uri)
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.rand(2000, 3), columns=["f1", "f2", "f3"])
    model = LogisticRegression().fit(X, (X.f1 > X.f2).astype(int))
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, model.predict(X)),
                                 registered_model_name="main.bench.model")
    mlflow.MlflowClient(uri, uri).set_registered_model_alias("main.bench.model", "champion", "1")
    return model_location(uri, "models:/main.bench.model/1")


def wait_ready(url: str, headers: dict[str, str], proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: see {proc.args[-1]} logs in the temp folder")
        try:
            if httpx.post(url, json=ROW, headers=headers, timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready")


def measure(url: str, headers: dict[str, str], n: int) -> list[float]:
    with httpx.Client(headers=headers, timeout=30) as client:
        for _ in range(50):  # warm-up
            client.post(url, json=ROW).raise_for_status()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.post(url, json=ROW).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return times


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ll-serving-bench-"))
    (root / "conf").mkdir()
    (root / "conf" / "lakeloom.yml").write_text(yaml.safe_dump({
        "server": {"warm_spark": False}, "serving": {"endpoints": {"bench": {"model": "models:/main.bench.model@champion"}}}}))
    path = register(root)
    token = subprocess.run([str(BIN / "lakeloom"), "-w", str(root), "tokens", "create", "--principal", "bench"],
                           capture_output=True, text=True, check=True).stdout.strip().split()[-1]
    ll_port, mf_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `mlflow models serve` execs `uvicorn`
    procs = [
        subprocess.Popen([str(BIN / "lakeloom"), "-w", str(root), "serve", "--no-scheduler", "--no-warm-spark",
                          "--port", str(ll_port), "--log-level", "warning"], env=env, start_new_session=True,
                         stdout=(root / "lakeloom.log").open("w"), stderr=subprocess.STDOUT),
        subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", path, "--env-manager", "local",
                          "-p", str(mf_port), "-h", "127.0.0.1"], env=env, start_new_session=True,
                         stdout=(root / "mlflow.log").open("w"), stderr=subprocess.STDOUT),
    ]
    try:
        ll = (f"http://127.0.0.1:{ll_port}/serving-endpoints/bench/invocations", {"Authorization": f"Bearer {token}"})
        mf = (f"http://127.0.0.1:{mf_port}/invocations", {})
        wait_ready(*ll, procs[0])
        wait_ready(*mf, procs[1])
        results: dict[str, list[float]] = {"lakeloom": [], "mlflow": []}
        for _ in range(2):  # interleaved halves: load from other processes hits both alike
            results["mlflow"] += measure(*mf, args.requests // 2)
            results["lakeloom"] += measure(*ll, args.requests // 2)
        for name, xs in results.items():
            print(f"{name:9s} n={len(xs)}  p50 {pct(xs, .5):7.2f} ms  p99 {pct(xs, .99):7.2f} ms  "
                  f"mean {statistics.mean(xs):7.2f} ms")
        print(f"ratio lakeloom/mlflow: p50 {pct(results['lakeloom'], .5) / pct(results['mlflow'], .5):.2f}x  "
              f"p99 {pct(results['lakeloom'], .99) / pct(results['mlflow'], .99):.2f}x  (goal p50 <= 1.0x)")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait(30)


if __name__ == "__main__":
    main()
