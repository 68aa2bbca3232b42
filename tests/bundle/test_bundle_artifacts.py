"""A bundle with a wheel artifact, as Databricks' default-python template lays it out: `lakeloom
bundle run` builds it with its build command and a python_wheel_task runs its entry point from
the task's environment (`libraries: [{whl: ../dist/*.whl}]`), on real Spark + Delta."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bundle_files import write
from click.testing import CliRunner

from lakeloom.cli.main import cli

pytestmark = pytest.mark.spark

BUNDLE = {
    "databricks.yml": """
        bundle: {name: wheels}
        include: [resources/*.yml]
        artifacts:
          python_artifact:
            type: whl
            build: python -m build --wheel --no-isolation --skip-dependency-check
        targets:
          dev: {default: true}
        """,
    "resources/job.yml": """
        resources:
          jobs:
            wheel_job:
              name: wheel job
              tasks:
                - task_key: main_task
                  python_wheel_task:
                    package_name: lakepkg
                    entry_point: main
                    named_parameters: {table: main.default.bundle_wheel_out, rows: "5"}
                  libraries:
                    - whl: ../dist/*.whl
        """,
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "lakepkg"
        version = "0.1.0"

        [project.scripts]
        main = "lakepkg.main:main"

        [tool.setuptools]
        packages = ["lakepkg"]
        """,
    "lakepkg/__init__.py": "",
    "lakepkg/main.py": """
        import argparse
        from databricks.sdk.runtime import spark

        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--table")
            parser.add_argument("--rows", type=int)
            args = parser.parse_args()
            spark.range(args.rows).write.format("delta").mode("overwrite").saveAsTable(args.table)
        """,
}


def test_bundle_run_builds_the_wheel_artifact_and_runs_its_entry_point(spark, tmp_path: Path) -> None:  # noqa: ANN001
    root = write(tmp_path / "wheels", BUNDLE)
    runner = CliRunner()
    res = runner.invoke(cli, ["-w", str(tmp_path / "ws"), "bundle", "run", "wheel_job", "--bundle", str(root), "--json"])
    assert res.exit_code in (0, 1), res.output
    run = json.loads(res.stdout[res.stdout.index("{"):])
    assert run["state"]["result_state"] == "SUCCESS", [t["state"] for t in run["tasks"]]
    assert [p.name for p in (root / "dist").glob("*.whl")] == ["lakepkg-0.1.0-py3-none-any.whl"]
    assert spark.table("main.default.bundle_wheel_out").count() == 5
    assert "lakepkg" not in sys.modules  # the wheel was only importable for the task
    broken = dict(BUNDLE)
    broken["databricks.yml"] = BUNDLE["databricks.yml"].replace("python -m build", "python -m nobuild")
    bad = write(tmp_path / "broken", broken)
    res = runner.invoke(cli, ["-w", str(tmp_path / "ws"), "bundle", "deploy", "--bundle", str(bad)])
    assert res.exit_code != 0
    assert "artifacts.python_artifact" in res.output and "build command 'python -m nobuild" in res.output
