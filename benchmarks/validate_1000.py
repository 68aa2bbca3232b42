"""`lakeloom validate` on a generated 1,000-task job: goal <= 1 s wall, and no JVM.

Generates a job mixing python_task, condition_task, for_each_task and
spark_python_task (whose file check must not start Spark), with dependencies and
dynamic references; then (1) validates it in-process with
``engine.validate.validate_file`` and checks that neither pyspark nor py4j was
imported, and (2) times the real CLI, ``.venv/bin/lakeloom validate FILE``, as a
subprocess (interpreter start-up and imports included), against the baseline of a
bare ``python -c pass`` in the same run.

    .venv/bin/python benchmarks/validate_1000.py [--tasks 1000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def generate(n: int, folder: Path) -> Path:
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "scripts" / "step.py").write_text("import sys\nprint(sys.argv)\n")
    tasks: list[dict] = []
    for i in range(n):
        key = f"t{i:04d}"
        deps = [{"task_key": f"t{j:04d}"} for j in (i - 1, i - 7) if j >= 0 and (i % 10) != 0]
        kind = i % 10
        if kind == 3 and deps:
            task = {"condition_task": {"op": "GREATER_THAN", "left": f"{{{{tasks.{deps[0]['task_key']}.values.n}}}}",
                                       "right": "0"}}
        elif kind == 5:
            task = {"for_each_task": {"inputs": "[1, 2, 3]", "concurrency": 2, "task": {
                "task_key": f"{key}_each", "python_task": {"function": "pkg.mod:f",
                                                           "parameters": {"x": "{{input}}"}}}}}
        elif kind == 7:
            task = {"spark_python_task": {"python_file": "scripts/step.py",
                                          "parameters": ["{{job.parameters.run_date}}", "{{job.run_id}}"]}}
        else:
            task = {"python_task": {"function": "pkg.mod:f", "parameters": {
                "d": "{{job.parameters.run_date}}", "t": "{{task.name}}"}}}
        body = {"task_key": key, **task, "max_retries": 1}
        if deps:
            body["depends_on"] = deps
        tasks.append(body)
    path = folder / "big.job.yml"
    path.write_text(yaml.safe_dump({"name": "big", "parameters": [{"name": "run_date", "default": "2026-01-01"}],
                                    "tasks": tasks}, sort_keys=False))
    return path


def in_process(path: Path, repeat: int) -> list[float]:
    from lakeloom.engine.validate import validate_file
    from lakeloom.plugin_manager import build_plugin_manager

    pm = build_plugin_manager()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        docs, problems = validate_file(path, pm)
        times.append(time.perf_counter() - t)
        errors = [p for p in problems if p.severity == "error"]
        assert docs and not errors, [e.format() for e in errors[:5]]
    jvm_modules = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j"))
    assert not jvm_modules, f"validation imported {jvm_modules}"
    return times


def cli_times(path: Path, repeat: int) -> tuple[list[float], list[float]] | None:
    exe = Path(sys.executable).parent / "lakeloom"
    if not exe.exists():
        found = shutil.which("lakeloom")
        if not found:
            return None
        exe = Path(found)
    cli, bare = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run([str(exe), "validate", str(path)], capture_output=True, text=True)
        cli.append(time.perf_counter() - t)
        assert out.returncode == 0, out.stdout + out.stderr
    return cli, bare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"# validate_1000  python {platform.python_version()}  {platform.platform()}  cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory() as d:
        path = generate(args.tasks, Path(d))
        size_kb = path.stat().st_size / 1024
        t_in = in_process(path, args.repeat)
        print(f"job: {args.tasks} tasks, {size_kb:.0f} KiB of YAML")
        print(f"in-process validate_file: median {statistics.median(t_in):.3f} s  (min {min(t_in):.3f})  "
              f"pyspark/py4j imported: no")
        res = cli_times(path, args.repeat)
        if res is None:
            print("CLI: `lakeloom` executable not found; only the in-process figure is available")
            return
        cli, bare = res
        med = statistics.median(cli)
        print(f"CLI `lakeloom validate FILE`: median {med:.3f} s wall (min {min(cli):.3f}); "
              f"bare interpreter start {statistics.median(bare):.3f} s; "
              f"ratio {med / statistics.median(bare):.1f}x")
        print(f"goal <= 1 s: {'MET' if med <= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
