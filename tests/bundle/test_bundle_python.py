"""Python-defined resources through the databricks-bundles package (``python:`` section)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bundle_files import write

from click.testing import CliRunner

from lakeloom.bundle import load_bundle
from lakeloom.cli.main import cli
from lakeloom.spec.loader import JobSpecError

PY_BUNDLE = {
    "databricks.yml": """
        bundle: {name: pyb}
        python:
          resources: ["resources:load_resources"]
          mutators: ["mutators:add_retries"]
        include: [resources/*.yml]
        variables:
          rows: {default: 3}
        targets:
          dev: {default: true, mode: development}
        """,
    "resources/yaml_job.yml": """
        resources:
          jobs:
            from_yaml:
              tasks: [{task_key: t, spark_python_task: {python_file: ../src/check.py}}]
        """,
    "resources/__init__.py": """
        from databricks.bundles.core import Bundle, Resources
        from databricks.bundles.jobs import Job


        def load_resources(bundle: Bundle) -> Resources:
            resources = Resources()
            job = Job.from_dict({
                "name": f"py_check_{bundle.target}",
                "tasks": [{"task_key": "check",
                           "spark_python_task": {"python_file": "src/check.py",
                                                 "parameters": ["${var.rows}", "${bundle.target}"]}}],
            })
            resources.add_resource("py_check", job)
            return resources
        """,
    "mutators.py": """
        from dataclasses import replace

        from databricks.bundles.core import Bundle, job_mutator
        from databricks.bundles.jobs import Job


        @job_mutator
        def add_retries(bundle: Bundle, job: Job) -> Job:
            return replace(job, tasks=[replace(t, max_retries=2) for t in job.tasks])
        """,
    "src/check.py": """
        import sys
        from pyspark.sql import SparkSession

        rows, target = sys.argv[1:3]
        spark = SparkSession.builder.getOrCreate()
        spark.range(int(rows)).selectExpr("id", f"'{target}' AS target").write.mode("overwrite") \\
            .saveAsTable("main.pyb.check")
        """,
}


@pytest.fixture
def pyb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAKELOOM_USER_NAME", "ada@example.com")
    return write(tmp_path / "pyb", PY_BUNDLE)


def test_python_defined_job_loads_with_mutators_and_references(pyb: Path) -> None:
    b = load_bundle(pyb)
    job = b.jobs["py_check"].job
    assert job.name == "[dev ada] py_check_dev"  # Python sees the target; presets apply after
    (task,) = job.tasks
    settings = b.resources["jobs"]["py_check"]["tasks"][0]["spark_python_task"]
    assert settings["python_file"] == str(pyb / "src" / "check.py")  # relative to the bundle folder
    assert settings["parameters"] == ["3", "dev"]  # ${...} written in Python resolves like YAML's
    assert task.max_retries == 2 and b.jobs["from_yaml"].job.tasks[0].max_retries == 2  # mutators: every job
    assert str(b.jobs["py_check"].source) == str(pyb / "resources" / "__init__.py")


def test_python_errors_name_the_python_file(pyb: Path) -> None:
    init = pyb / "resources" / "__init__.py"
    init.write_text(init.read_text().replace("${var.rows}", "${var.rowz}"))
    with pytest.raises(JobSpecError) as exc:
        load_bundle(pyb)
    (err,) = exc.value.errors
    assert err.file == str(init) and "reference does not exist: ${var.rowz}" in err.message
    init.write_text("def load_resources(bundle):\n    raise RuntimeError('no tables today')\n")
    with pytest.raises(JobSpecError) as exc:
        load_bundle(pyb)
    assert any("no tables today" in e.format() for e in exc.value.errors)


def test_missing_package_says_how_to_install_it(pyb: Path) -> None:
    venv = pyb / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    root = pyb / "databricks.yml"
    root.write_text(root.read_text().replace("python:\n", "python:\n  venv_path: .venv\n"))
    with pytest.raises(JobSpecError) as exc:
        load_bundle(pyb)
    (err,) = exc.value.errors
    assert err.file == str(root) and err.line == 2
    assert "need the databricks-bundles package" in err.message and "pip install databricks-bundles" in err.message


@pytest.mark.spark
def test_python_defined_job_runs(spark, pyb: Path, tmp_path: Path) -> None:  # noqa: ANN001
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.pyb")
    try:
        res = CliRunner().invoke(cli, ["-w", str(tmp_path), "bundle", "run", "py_check", "--bundle", str(pyb),
                                       "--var", "rows=5"])
        assert res.exit_code == 0, res.output
        rows = spark.table("main.pyb.check").collect()
    finally:
        spark.sql("DROP SCHEMA main.pyb CASCADE")
    assert sorted((r.id, r.target) for r in rows) == [(i, "dev") for i in range(5)]
