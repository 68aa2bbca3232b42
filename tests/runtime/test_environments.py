"""Task dependencies through real runs: environments, libraries (whl, requirements), a wheel
artifact built by its build command, notebook %pip/%restart_python, per-task isolation (Spark
UDF workers included), the cache, and lakeloom's pins."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.spec.loader import JobSpecError
from lakeloom.runtime.environments import (
    DependencyLine, PinConflict, cached_environment, dependencies_scope, ensure_environment, resolve)
from lakeloom.runtime.environments.artifacts import ArtifactBuildError, build_artifact

BUILD = f"{sys.executable} -m build --wheel --no-isolation --skip-dependency-check"


def make_project(folder: Path, version: str) -> Path:
    """A tiny setuptools project ``llpkg`` whose module reports its version."""
    (folder / "llpkg").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "llpkg"
        version = "{version}"

        [project.entry-points.llpkg]
        main = "llpkg:main"

        [tool.setuptools]
        packages = ["llpkg"]
        """))
    (folder / "llpkg" / "__init__.py").write_text(textwrap.dedent(f"""\
        import sys
        VERSION = "{version}"

        def tag(x):
            return VERSION + ":" + str(x)

        def main():
            return {{"version": VERSION, "argv": sys.argv[1:]}}
        """))
    return folder


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wheels")
    out = root / "wheels"
    proj = make_project(root / "v1", "1.0")
    subprocess.run([*BUILD.split(), "--outdir", str(out), str(proj)], check=True, capture_output=True)
    return {"1.0": next(out.glob("llpkg-1.0-*.whl")), "root": root}


def test_pins_are_checked_before_pip_runs(tmp_path: Path) -> None:
    for text in ("pyspark==3.5.0", "delta-spark<4", "pyspark @ https://example.invalid/pyspark.tar.gz"):
        with pytest.raises(PinConflict, match=r"environments\[default\]\.spec\.dependencies\[0\]: requirement .*pyspark|delta"):
            resolve([DependencyLine(text, "environments[default].spec.dependencies[0]", tmp_path)])
    ok = resolve([DependencyLine("pyspark>=4", "x", tmp_path), DependencyLine("delta-spark", "y", tmp_path)])
    assert ok.args == ["pyspark>=4", "delta-spark"]


def test_editable_folder_without_a_python_project_installs_nothing(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    # The lakeflow-pipelines SQL template's pipeline lists `--editable ${workspace.file_path}`
    # although its bundle has no pyproject.toml.
    sql_only = tmp_path / "sql_bundle"
    sql_only.mkdir()
    deps = resolve([DependencyLine(f"--editable {sql_only}", "environment.dependencies[0]", tmp_path)])
    assert deps.empty
    assert "environment.dependencies[0]" in caplog.text and "is not a Python project" in caplog.text
    line = DependencyLine(f"--editable {sql_only}", "pipeline environment", tmp_path)
    with dependencies_scope([line], tmp_path / "state", label="pipeline") as env:
        assert env is None  # nothing to install: no pip run, no environment
    project = make_project(tmp_path / "proj", "1.0")
    assert resolve([DependencyLine(f"-e {project}", "x", tmp_path)]).args == ["-e", str(project.resolve())]


def test_quoted_requirement_files_with_spaces(tmp_path: Path) -> None:
    """The CLI's own dependency example: -r "${workspace.file_path}/Path With Spaces/requirements.txt",
    double or single quoted, as pip's requirement-file parser reads it."""
    folder = tmp_path / "Path With Spaces"
    folder.mkdir()
    (folder / "requirements.txt").write_text("delta-spark\n")
    for quote in ('"', "'"):
        deps = resolve([DependencyLine(f"-r {quote}{folder}/requirements.txt{quote}", "x", tmp_path)])
        assert deps.args == ["delta-spark"]


def test_environment_is_installed_once_per_content(wheels: dict[str, Path], tmp_path: Path) -> None:
    line = DependencyLine(f"./{wheels['1.0'].name}", "task 't' libraries[0]", wheels["1.0"].parent)
    deps = resolve([line])
    assert deps.local_only and deps.args == [str(wheels["1.0"])]
    env = ensure_environment(deps, tmp_path / "envs")
    assert (env.site_dir / "llpkg" / "__init__.py").is_file()
    assert not list(env.site_dir.glob("pandas*")), "packages lakeloom has are not installed again"
    marker = env.root / ".lakeloom-env.json"
    stamp = marker.stat().st_mtime_ns
    assert ensure_environment(resolve([line]), tmp_path / "envs") == env  # reused, no pip
    assert marker.stat().st_mtime_ns == stamp
    with pytest.raises(Exception, match="does not exist"):
        resolve([DependencyLine("./nope-1.0-py3-none-any.whl", "task 't' libraries[1]", tmp_path)])
    # same file name, other content: another environment
    copy = tmp_path / wheels["1.0"].name
    copy.write_bytes(wheels["1.0"].read_bytes() + b"\0")
    assert resolve([DependencyLine(str(copy), "x", tmp_path)]).key != deps.key
    assert cached_environment(resolve([DependencyLine(str(copy), "x", tmp_path)]), tmp_path / "envs") is None


def test_artifact_build_errors_name_the_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactBuildError, match="artifact 'broken': build command 'exit 3' failed"):
        build_artifact("broken", {"type": "whl", "build": "exit 3"}, tmp_path)
    with pytest.raises(ArtifactBuildError, match=r"artifact 'empty': no file matches .*dist/\*\.whl"):
        build_artifact("empty", {"type": "whl", "build": "true"}, tmp_path)


NB = "# Databricks notebook source\n"
SEP = "\n# COMMAND ----------\n"

SCRIPT = """\
import time
import llpkg
from pyspark.sql import functions as F, types as T

tag = F.udf(lambda x: llpkg.tag(x), T.StringType())
in_worker = spark.range(1).select(tag(F.lit("w"))).first()[0]
time.sleep(1)
dbutils.jobs.taskValues.set("seen", {"driver": llpkg.VERSION, "worker": in_worker})
"""


@pytest.mark.spark
def test_environments_libraries_artifact_and_pip_notebook(spark, wheels: dict[str, Path],  # noqa: ANN001
                                                          tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    (root / "src").mkdir(parents=True)
    # artifact v2, built by its build command, installed through `libraries: whl` and `-r requirements.txt`
    make_project(root / "proj", "2.0")
    built = build_artifact("llpkg", {"type": "whl", "path": "proj", "build": BUILD}, root)
    assert [f.name for f in built.files] == ["llpkg-2.0-py3-none-any.whl"]
    (root / "reqs").mkdir()
    (root / "reqs" / "requirements.txt").write_text("# the artifact\n../proj/dist/llpkg-2.0-py3-none-any.whl\n")
    (root / "src" / "uses_v1.py").write_text(SCRIPT)
    (root / "src" / "uses_v2.py").write_text(SCRIPT)
    (root / "src" / "data.txt").write_text("x\n")
    (root / "src" / "pip_nb.py").write_text(NB + """\
try:
    import llpkg
    before = llpkg.VERSION
except ModuleNotFoundError:
    before = None
""" + SEP + f"# MAGIC %pip install --quiet {wheels['1.0']}" + SEP + "# MAGIC %restart_python" + SEP + """\
%load_ext autoreload
%autoreload 2
import llpkg
files = !ls
here = %pwd
%time total = sum(range(10))
""" + SEP + """\
dbutils.jobs.taskValues.set("seen", {"version": llpkg.VERSION, "files": sorted(files), "pwd": here,
                                      "forgot_before": "before" not in globals(), "total": total})
""")
    (root / "src" / "tagged.pipeline.yml").write_text(yaml.safe_dump({
        "name": "Tagged with the package's version", "schema": "env_pipe",
        "environment": {"dependencies": [str(wheels["1.0"])]}, "libraries": [{"file": {"path": "tagged.py"}}]}))
    (root / "src" / "tagged.py").write_text(textwrap.dedent("""\
        from pyspark import pipelines as dp
        from pyspark.sql import functions as F
        import llpkg

        @dp.materialized_view
        def tagged():
            return spark.range(2).select(F.udf(lambda x: llpkg.tag(x), "string")("id").alias("t"))
        """))
    job = {"name": "deps", "environments": [
        {"environment_key": "v1", "spec": {"environment_version": 2, "dependencies": [str(wheels["1.0"])]}},
        {"environment_key": "v2", "spec": {"dependencies": ["-r ../reqs/requirements.txt"]}},
    ], "tasks": [
        {"task_key": "v1", "environment_key": "v1", "spark_python_task": {"python_file": "uses_v1.py"}},
        {"task_key": "v2", "environment_key": "v2", "spark_python_task": {"python_file": "uses_v2.py"}},
        {"task_key": "wheel", "python_wheel_task": {"package_name": "llpkg", "entry_point": "main",
                                                    "parameters": ["--x"]},
         "libraries": [{"whl": "../proj/dist/*.whl"}]},
        {"task_key": "pip_nb", "depends_on": [{"task_key": "v1"}, {"task_key": "v2"}, {"task_key": "wheel"}],
         "notebook_task": {"notebook_path": "pip_nb"}},
        {"task_key": "pipeline", "depends_on": [{"task_key": "pip_nb"}],
         "pipeline_task": {"pipeline": "tagged.pipeline.yml"}},
    ]}
    (root / "src" / "job.yml").write_text(yaml.safe_dump(job, sort_keys=False))
    engine = Engine.open(load_workspace(root / "ws"), build_plugin_manager(()))
    run = engine.submit(str(root / "src" / "job.yml"))
    rows = {r.task_key: r for r in engine.store.task_runs(run["run_id"])}
    values = engine.store.task_values(run["run_id"])
    messages = {k: r.state_message for k, r in rows.items()}
    assert {k: r.result_state for k, r in rows.items()} == {
        "v1": "SUCCESS", "v2": "SUCCESS", "wheel": "SUCCESS", "pip_nb": "SUCCESS", "pipeline": "SUCCESS"}, messages
    # the pipeline's environment.dependencies: its source and its UDF workers import the package
    assert sorted(r.t for r in spark.table("main.env_pipe.tagged").collect()) == ["1.0:0", "1.0:1"]
    assert values["v1"]["seen"] == {"driver": "1.0", "worker": "1.0:w"}
    assert values["v2"]["seen"] == {"driver": "2.0", "worker": "2.0:w"}
    assert rows["wheel"].output["result"] == {"version": "2.0", "argv": ["--x"]}
    assert values["pip_nb"]["seen"] == {"version": "1.0", "files": ["data.txt", "job.yml", "pip_nb.py",
                                                                  "tagged.pipeline.yml", "tagged.py", "uses_v1.py",
                                                                  "uses_v2.py"],
                                        "pwd": str(root / "src"), "forgot_before": True, "total": 45}
    assert "llpkg" not in sys.modules  # nothing leaked into the process
    envs = sorted(p.name for p in (root / "ws" / ".lakeloom" / "envs").iterdir() if p.is_dir())
    # one per distinct dependency set: v1 = the %pip notebook's, v2 (-r requirements.txt) = the whl library's
    assert len(envs) == 2
    again = engine.submit(str(root / "src" / "job.yml"), only=["v1"])
    assert again["state"]["result_state"] == "SUCCESS"
    assert sorted(p.name for p in (root / "ws" / ".lakeloom" / "envs").iterdir() if p.is_dir()) == envs
    # a requirement that replaces lakeloom's pin stops the run before anything runs, naming it
    job["environments"].append({"environment_key": "bad", "spec": {"dependencies": ["pyspark==3.5.0"]}})
    job["tasks"].append({"task_key": "bad", "environment_key": "bad", "spark_python_task": {"python_file": "uses_v1.py"}})
    (root / "src" / "job.yml").write_text(yaml.safe_dump(job, sort_keys=False))
    with pytest.raises(JobSpecError, match=r"task 'bad': field 'environment_key': environments\[bad\]\.spec\."
                                           r"dependencies\[0\]: requirement 'pyspark==3.5.0' conflicts with "
                                           r"lakeloom's pin pyspark==4.2.0"):
        engine.submit(str(root / "src" / "job.yml"))


def test_validate_reads_ipython_cells_through_the_transformer(tmp_path: Path) -> None:
    from lakeloom.plugins.notebook_task import validate_notebook_settings

    (tmp_path / "nb.py").write_text(NB + "# MAGIC %pip install -r requirements.txt" + SEP + "# MAGIC %restart_python"
                                    + SEP + "files = !ls\n%time n = len(files)\nhere = %pwd" + SEP + "x = (\n")
    issues = [i.message for i in validate_notebook_settings({"notebook_path": "nb"}, tmp_path)]
    assert len(issues) == 1 and "cell 4: syntax error" in issues[0], issues  # only the real error


def test_gate_keeps_environments_apart_but_lets_one_thread_nest() -> None:
    import threading

    from lakeloom.runtime.environments import EnvironmentGate

    gate = EnvironmentGate()
    order: list[str] = []
    a_inside, release_a = threading.Event(), threading.Event()

    def task_a() -> None:
        with gate.hold("A"):
            order.append("A in")
            with gate.hold("A+pip"):  # a notebook's %pip on top of its task's environment
                order.append("A+pip in")
            a_inside.set()
            release_a.wait(10)
            order.append("A out")

    def task_b() -> None:
        a_inside.wait(10)
        with gate.hold("B", on_wait=lambda keys: order.append(f"B waits for {sorted(keys)}")):
            order.append("B in")

    def task_a2() -> None:
        a_inside.wait(10)
        with gate.hold("A"):
            order.append("A2 in")  # same environment: runs beside A

    threads = [threading.Thread(target=f) for f in (task_a, task_b, task_a2)]
    for t in threads:
        t.start()
    a_inside.wait(10)
    for _ in range(100):
        if "A2 in" in order and any(o.startswith("B waits") for o in order):
            break
        threading.Event().wait(0.05)
    assert "B in" not in order
    release_a.set()
    for t in threads:
        t.join(10)
    assert order.index("A out") < order.index("B in")
    assert order.index("A2 in") < order.index("A out")
    cancelled = threading.Event()
    cancelled.set()
    with gate.hold("C"):
        seen: list[BaseException] = []

        def blocked() -> None:
            try:
                with gate.hold("D", cancelled=cancelled.is_set):
                    pass
            except InterruptedError as e:
                seen.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        t.join(10)
    assert seen and "cancelled while waiting for environment D" in str(seen[0])
    assert gate.active() == set()
