"""Reusing a cached task environment: the per-task cost of `environments` once installed.

Builds a tiny wheel, runs a job of N `python_task`s that all use one environment holding it
(the first run installs it, timed separately), then runs that job again (cache reused, no
pip) and a baseline job of the same tasks without an environment calling a stdlib function.
Per-task reuse cost = (env run - baseline run) / N. Goal: <= 0.2 s per task.

    .venv/bin/python benchmarks/env_cache.py [--tasks 20]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.spec.models import Job


def build_wheel(root: Path) -> Path:
    proj = root / "proj"
    (proj / "llbench").mkdir(parents=True)
    (proj / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "llbench"
        version = "1.0"
        [tool.setuptools]
        packages = ["llbench"]
        """))
    (proj / "llbench" / "__init__.py").write_text("def work():\n    return 1\n")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check",
                    "--outdir", str(root / "dist"), str(proj)], check=True, capture_output=True)
    return next((root / "dist").glob("*.whl"))


def job(n: int, wheel: Path | None) -> Job:
    tasks = [{"task_key": f"t{i}", "python_task": {"function": "llbench:work" if wheel else "os:getpid"},
              **({"environment_key": "bench"} if wheel else {})} for i in range(n)]
    envs = [{"environment_key": "bench", "spec": {"dependencies": [str(wheel)]}}] if wheel else []
    return Job.model_validate({"name": "env-bench" if wheel else "baseline", "environments": envs, "tasks": tasks,
                               "max_concurrent_runs": 1})


def timed(engine: Engine, j: Job) -> float:
    started = time.perf_counter()
    run = engine.submit(j)
    elapsed = time.perf_counter() - started
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wheel = build_wheel(root)
        engine = Engine.open(load_workspace(root / "ws"), build_plugin_manager(()))
        with_env, baseline = job(args.tasks, wheel), job(args.tasks, None)
        first = timed(engine, job(1, wheel))
        env_runs, base_runs = [], []
        for _ in range(args.repeat):
            base_runs.append(timed(engine, baseline))
            env_runs.append(timed(engine, with_env))
        env_s, base_s = statistics.median(env_runs), statistics.median(base_runs)
        per_task = (env_s - base_s) / args.tasks
        print(f"first use (install, 1 task): {first:.2f} s")
        print(f"{args.tasks} tasks, cached environment: {env_s:.3f} s; baseline without environment: {base_s:.3f} s")
        print(f"reuse cost per task: {per_task * 1000:.1f} ms (goal <= 200 ms): "
              f"{'met' if per_task <= 0.2 else 'NOT met'}; ratio env/baseline {env_s / base_s:.2f}x")


if __name__ == "__main__":
    main()
