"""`lakeloom bundle validate` on a generated bundle of 50 jobs across 20 include files:
goal <= 1 s wall, and no JVM.

The bundle has two targets (one in development mode), variables (plain, complex, from a
target), 50 jobs of 6 tasks (notebook, spark_python, python_wheel with environments,
condition and run_job tasks naming other jobs through ``${resources.jobs.<key>.id}``),
a schema and a volume referenced from every job. It is validated (1) in-process with
``load_bundle`` plus the engine's task checks, asserting that neither pyspark nor py4j was
imported, and (2) through the real CLI as a subprocess (interpreter start-up and imports
included), against a bare ``python -c pass`` baseline measured in the same run.

    .venv/bin/python benchmarks/bundle_validate.py [--jobs 50] [--files 20] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = """\
bundle: {name: bench}
include: ["resources/*.yml"]
variables:
  catalog: {default: main}
  schema: {default: "${workspace.current_user.short_name}_bench"}
  cluster: {type: complex, default: {spark_version: 15.4.x-scala2.12, num_workers: 2}}
  rows: {default: 10}
targets:
  dev: {default: true, mode: development}
  prod: {variables: {schema: bench, rows: 1000}}
resources:
  schemas:
    bench_schema: {catalog_name: "${var.catalog}", name: "${var.schema}"}
  volumes:
    landing: {catalog_name: "${var.catalog}", schema_name: "${resources.schemas.bench_schema.name}", name: landing}
"""


def job(i: int, n_jobs: int) -> dict:
    other = f"job_{(i + 1) % n_jobs:03d}"
    return {
        "name": f"bench job {i} (${{bundle.target}})",
        "parameters": [{"name": "rows", "default": "${var.rows}"},
                       {"name": "where", "default": "${resources.schemas.bench_schema.id}"}],
        "schedule": {"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "UTC"},
        "environments": [{"environment_key": "default", "spec": {"environment_version": "4",
                                                                 "dependencies": ["../dist/*.whl", "pandas<3"]}}],
        "tasks": [
            {"task_key": "ingest", "notebook_task": {"notebook_path": "../src/ingest.py",
                                                     "base_parameters": {"catalog": "${var.catalog}"}}},
            {"task_key": "transform", "depends_on": [{"task_key": "ingest"}],
             "spark_python_task": {"python_file": "../src/transform.py",
                                   "parameters": ["--rows", "${var.rows}", "--volume",
                                                  "/Volumes/${var.catalog}/${var.schema}/landing"]}},
            {"task_key": "wheel", "depends_on": [{"task_key": "transform"}], "environment_key": "default",
             "python_wheel_task": {"package_name": "bench", "entry_point": "main"}},
            {"task_key": "check", "depends_on": [{"task_key": "wheel"}],
             "condition_task": {"op": "GREATER_THAN", "left": "{{job.parameters.rows}}", "right": "0"}},
            {"task_key": "next", "depends_on": [{"task_key": "check", "outcome": "true"}],
             "run_job_task": {"job_id": f"${{resources.jobs.{other}.id}}"}},
            {"task_key": "report", "depends_on": [{"task_key": "next"}],
             "notebook_task": {"notebook_path": "../src/report.py"}},
        ],
    }


def generate(folder: Path, n_jobs: int, n_files: int) -> Path:
    (folder / "src").mkdir(parents=True)
    (folder / "resources").mkdir()
    for name in ("ingest.py", "report.py"):
        (folder / "src" / name).write_text("# Databricks notebook source\nprint('hi')\n")
    (folder / "src" / "transform.py").write_text("import sys\nprint(sys.argv)\n")
    (folder / "databricks.yml").write_text(ROOT)
    per_file: dict[int, dict] = {}
    for i in range(n_jobs):
        per_file.setdefault(i % n_files, {})[f"job_{i:03d}"] = job(i, n_jobs)
    for f, jobs in per_file.items():
        (folder / "resources" / f"jobs_{f:02d}.yml").write_text(
            yaml.safe_dump({"resources": {"jobs": jobs}}, sort_keys=False))
    return folder


def in_process(folder: Path, repeat: int) -> list[float]:
    from lakeloom.bundle import load_bundle
    from lakeloom.bundle.state import map_back
    from lakeloom.engine.validate import validate_loaded
    from lakeloom.plugin_manager import build_plugin_manager

    pm = build_plugin_manager()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        bundle = load_bundle(folder)
        problems = [map_back(p, j) for j in bundle.jobs.values() for p in validate_loaded(j, pm)]
        times.append(time.perf_counter() - t)
        errors = [p.format() for p in problems if p.severity == "error"]
        assert len(bundle.jobs) >= 1 and not errors, errors[:5]
    jvm = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j"))
    assert not jvm, f"validation imported {jvm}"
    return times


def cli_times(folder: Path, ws: Path, repeat: int) -> tuple[list[float], list[float]]:
    exe = Path(sys.executable).parent / "lakeloom"
    cli, bare = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run([str(exe), "-w", str(ws), "bundle", "validate", "--bundle", str(folder)],
                             capture_output=True, text=True)
        cli.append(time.perf_counter() - t)
        assert out.returncode == 0 and "Validation OK!" in out.stdout, out.stderr[-2000:]
    return cli, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lakeloom-bench-bundle-") as tmp:
        folder = generate(Path(tmp) / "bundle", args.jobs, args.files)
        ws = Path(tmp) / "ws"
        ws.mkdir()
        os.environ.setdefault("LAKELOOM_USER_NAME", "bench@example.com")
        yaml_bytes = sum(p.stat().st_size for p in folder.rglob("*.yml"))
        print(f"bundle: {args.jobs} jobs x 6 tasks in {args.files} include files + databricks.yml "
              f"({yaml_bytes / 1024:.0f} KiB of YAML); {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
        inproc = in_process(folder, args.repeat)
        print(f"in-process load_bundle + task checks: median {statistics.median(inproc):.3f} s "
              f"(min {min(inproc):.3f}); pyspark/py4j imported: no")
        cli, bare = cli_times(folder, ws, args.repeat)
        med, base = statistics.median(cli), statistics.median(bare)
        print(f"CLI `lakeloom bundle validate`: median {med:.3f} s (min {min(cli):.3f}); "
              f"bare `python -c pass`: {base:.3f} s; ratio {med / base:.1f}x")
        print(f"goal <= 1 s: {'met' if med <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
