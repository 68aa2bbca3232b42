"""`lakeloom submit` runs a job inside a real spark-submit driver (its own JVM)."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))

TASKS = '''
from lakeloom import context
def count():
    spark = context().spark
    n = spark.range(10).count()
    context().task_values.set("n", n)
    print("master", spark.sparkContext.master, "n", n)
'''


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "submit_tasks.py").write_text(TASKS)
    (tmp_path / "job.yml").write_text(
        "name: submitted\ntasks:\n  - task_key: count\n    python_task: {function: 'submit_tasks:count'}\n")
    return tmp_path


def test_print_shows_delta_and_catalog_conf(ws: Path) -> None:
    out = subprocess.run([LAKELOOM, "--workspace", str(ws), "submit", "--master", "local[1]", "--print", "job.yml"],
                         capture_output=True, text=True, check=True).stdout
    assert "--master 'local[1]'" in out
    assert "spark.sql.extensions=" in out and "DeltaSparkSessionExtension" in out
    assert "spark_entry.py" in out and out.rstrip().endswith("run job.yml")


def test_submit_runs_the_job_in_the_spark_submit_driver(ws: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ws)}
    proc = subprocess.run([LAKELOOM, "--workspace", str(ws), "submit", "--master", "local[1]", "job.yml"],
                          cwd=ws, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = subprocess.run([LAKELOOM, "--workspace", str(ws), "runs", "list", "--json"], capture_output=True,
                            text=True, check=True).stdout
    (run,) = json.loads(listed)
    assert run["state"]["result_state"] == "SUCCESS"
    log = (ws / ".lakeloom" / "logs" / str(run["run_id"]) / "count" / "0.log").read_text()
    assert "master local[1] n 10" in log


def test_cluster_deploy_mode_on_a_standalone_master_is_refused_before_spark_submit(ws: Path) -> None:
    proc = subprocess.run([LAKELOOM, "--workspace", str(ws), "submit", "--master", "spark://127.0.0.1:7077",
                           "--deploy-mode", "cluster", "job.yml"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Cluster deploy mode is currently not supported for python applications on standalone clusters" in proc.stderr


def test_print_for_a_cluster_master_ships_the_file_system_jar(ws: Path) -> None:
    out = subprocess.run([LAKELOOM, "--workspace", str(ws), "submit", "--master", "spark://127.0.0.1:7077", "--print",
                          "job.yml"], capture_output=True, text=True, check=True).stdout
    assert "--deploy-mode client" in out and "spark.executor.extraClassPath=" in out and "lakeloom-fs-" in out
    # The job's folder travels to the executors as a zip for --py-files.
    archive = Path(shlex.split(out)[shlex.split(out).index("--py-files") + 1])
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == ["submit_tasks.py"]
    assert archive.parent == ws / ".lakeloom" / "cluster" / "py-files"
    local = subprocess.run([LAKELOOM, "--workspace", str(ws), "submit", "--master", "local[1]", "--print", "job.yml"],
                           capture_output=True, text=True, check=True).stdout
    assert "--py-files" not in local
