"""How notebook, Python-file and python_task tasks see their files, through real runs:
working directory = the file's folder (per task thread, tasks in parallel), sibling and
bundle-root imports, ``function: tasks:build`` beside the job file, Databricks globals in
Python files, and ``dbutils.notebook.run`` from a ``%run``-included cell."""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.store.records import TaskRunRecord

pytestmark = pytest.mark.spark
NB = "# Databricks notebook source\n"
SEP = "\n# COMMAND ----------\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    _write(root / "databricks.yml", "bundle:\n  name: files\n")
    _write(root / "shared_lib.py", "ORIGIN = 'bundle root'\n")
    _write(root / "resources" / "tasks.py", """\
        import os

        def build(n):
            return {"built": int(n) * 2, "pid": os.getpid()}
        """)
    _write(root / "src" / "data.txt", "hello from src\n")
    _write(root / "src" / "helper_nb.py", "def shout(s):\n    return s.upper()\n")
    _write(root / "src" / "nb.py", NB + """\
import os
from helper_nb import shout
import shared_lib
with open("data.txt") as f:
    text = f.read().strip()
""" + SEP + "# MAGIC %run ./sub/inc" + SEP + """\
child_says = call_child()
dbutils.jobs.taskValues.set("seen", {"cwd": os.getcwd(), "text": shout(text), "root": shared_lib.ORIGIN,
                                      "child": child_says})
""")
    _write(root / "src" / "sub" / "inc.py", NB + """\
def call_child():
    return dbutils.notebook.run("./child", 60)
""")
    _write(root / "src" / "child.py", NB + 'dbutils.notebook.exit("child of src")\n')
    _write(root / "src" / "sub" / "child.py", NB + 'dbutils.notebook.exit("child of sub")\n')
    _write(root / "src" / "jobs" / "data.txt", "hello from jobs\n")
    _write(root / "src" / "jobs" / "helper_jobs.py", "def double(x):\n    return 2 * x\n")
    _write(root / "src" / "jobs" / "script.py", """\
import os
import time
from pyspark.sql import functions as F
from helper_jobs import double  # a sibling module, also imported by the UDF's Spark worker

cwds = []
for _ in range(20):  # overlaps with the notebook task, which runs in another folder
    cwds.append(os.getcwd())
    time.sleep(0.05)
with open("data.txt") as f:
    text = f.read().strip()
n = spark.range(3).select(F.sum(F.udf(double, "long")("id"))).first()[0]
display(spark.range(1))
dbutils.jobs.taskValues.set("seen", {"cwds": sorted(set(cwds)), "text": text, "n": n})
""")
    job = {"name": "task-files", "tasks": [
        {"task_key": "nb", "notebook_task": {"notebook_path": "../src/nb"}},
        {"task_key": "script", "spark_python_task": {"python_file": "../src/jobs/script.py"}},
        {"task_key": "fn", "python_task": {"function": "tasks:build", "parameters": {"n": 21}}},
    ]}
    _write(root / "resources" / "job.yml", yaml.safe_dump(job, sort_keys=False))
    return root


def _values(engine: Engine, run_id: int) -> dict[str, TaskRunRecord]:
    rows = engine.store.task_runs(run_id)
    return {r.task_key: r for r in rows if r.iteration is None}


def test_files_tasks_run_in_their_folder_and_import_their_siblings(spark, bundle: Path) -> None:  # noqa: ANN001
    before = os.getcwd()
    engine = Engine.open(load_workspace(bundle / "ws"), build_plugin_manager(()))
    run = engine.submit(str(bundle / "resources" / "job.yml"))
    rows = _values(engine, run["run_id"])
    assert run["state"]["result_state"] == "SUCCESS", {k: r.state_message for k, r in rows.items()}
    values = engine.store.task_values(run["run_id"])
    assert os.getcwd() == before  # the process's directory never moved
    nb = values["nb"]["seen"]
    assert nb == {"cwd": str(bundle / "src"), "text": "HELLO FROM SRC", "root": "bundle root",
                  "child": "child of src"}  # ./child resolved against the calling notebook, not sub/
    script = values["script"]["seen"]
    assert script == {"cwds": [str(bundle / "src" / "jobs")], "text": "hello from jobs", "n": 6}
    out = rows["fn"].output
    assert out["result"]["built"] == 42
    # sibling modules do not leak into the process after the task
    assert not {"helper_nb", "helper_jobs", "tasks", "shared_lib"} & set(sys.modules)



def test_notebook_in_a_git_folder_imports_the_repos_top_level_packages(spark, tmp_path: Path) -> None:  # noqa: ANN001
    # The notebook-best-practices shape: notebooks/ imports a package at the repo root, and the
    # job file lives outside the repo (as a job with git_source does).
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    _write(repo / "analysis" / "__init__.py", "")
    _write(repo / "analysis" / "transforms.py", "def double(x):\n    return 2 * x\n")
    _write(repo / "notebooks" / "eda.py", NB + """\
from analysis.transforms import *
dbutils.jobs.taskValues.set("doubled", double(21))
""")
    outside = tmp_path / "jobs"
    _write(outside / "job.yml", yaml.safe_dump({"name": "git-folder", "tasks": [
        {"task_key": "eda", "notebook_task": {"notebook_path": str(repo / "notebooks" / "eda")}}]}))
    engine = Engine.open(load_workspace(tmp_path / "ws"), build_plugin_manager(()))
    run = engine.submit(str(outside / "job.yml"))
    rows = _values(engine, run["run_id"])
    assert run["state"]["result_state"] == "SUCCESS", {k: r.state_message for k, r in rows.items()}
    assert engine.store.task_values(run["run_id"])["eda"]["doubled"] == 42
    assert "analysis" not in sys.modules
