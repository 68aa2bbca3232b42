"""`lakeloom run` keeps the terminal to its own progress: Spark's log goes to per-run driver
logs under .lakeloom/logs/, and to the terminal only with --verbose (real subprocess, real JVM)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))

pytestmark = pytest.mark.spark

NOISY = textwrap.dedent("""
    from pyspark.sql import SparkSession
    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    spark.sparkContext._jvm.org.slf4j.LoggerFactory.getLogger("user.code").warn("jvm-marker-from-the-task")
    print("rows", spark.range(5).count())
""")


def _run(ws: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAKELOOM, *flags, "--workspace", str(ws), "run", "job.yml"], cwd=ws,
                          capture_output=True, text=True, timeout=600)


def test_spark_log_goes_to_the_run_driver_log_not_the_terminal(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text("spark: {master: 'local[1]'}\n")
    (tmp_path / "noisy.py").write_text(NOISY)
    (tmp_path / "job.yml").write_text("name: noisy\ntasks:\n"
                                      "  - task_key: noisy\n    spark_python_task: {python_file: noisy.py}\n")
    quiet = _run(tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    terminal = quiet.stdout + quiet.stderr
    assert "jvm-marker-from-the-task" not in terminal
    assert not [line for line in terminal.splitlines() if " WARN " in line], terminal
    logs = tmp_path / ".lakeloom" / "logs"
    driver = (logs / "1" / "driver.log").read_text()
    assert "WARN" in driver and "[noisy]: jvm-marker-from-the-task" in driver  # tagged with its task
    task_log = (logs / "1" / "noisy" / "0.log").read_text()
    assert "rows 5" in task_log and "[noisy]: jvm-marker-from-the-task" in task_log  # and in the task's log
    process = (logs / "spark-driver.log").read_text()
    assert "has not been configured" not in process + driver  # the task's FAIR pool was created first

    verbose = _run(tmp_path, "--verbose")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert "jvm-marker-from-the-task" in verbose.stderr
    assert "jvm-marker-from-the-task" in (logs / "2" / "driver.log").read_text()
