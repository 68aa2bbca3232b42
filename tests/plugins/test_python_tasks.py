"""python_task, spark_python_task and python_wheel_task through real runs."""
from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import ll_tasks  # noqa: E402
from harness import Harness, attempts, results, task  # noqa: E402
from lakeloom.hookspecs import hookimpl  # noqa: E402
from lakeloom.plugin_api import TaskType  # noqa: E402
from lakeloom.plugins import python_tasks  # noqa: E402
from lakeloom.store.run_shape import task_output  # noqa: E402


class ScriptWithoutSpark:
    """spark_python_task's own settings model and run function, registered without
    ``needs_spark`` so the script semantics (``__main__``, argv, exit codes) are tested
    without starting a JVM. The real kind is exercised in the Spark-marked test below."""

    @hookimpl
    def lakeloom_task_types(self) -> list[TaskType]:
        real = next(t for t in python_tasks.lakeloom_task_types() if t.key == "spark_python_task")
        return [TaskType("nospark_python_task", real.settings_model, real.run, validate=real.validate)]


@pytest.fixture
def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    ll_tasks.reset()
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    (tmp_path / "pkgs").mkdir()
    harness = Harness(tmp_path / "ws", extra_plugins=(ScriptWithoutSpark(),))
    yield harness
    harness.close()


def _output(h: Harness, run: dict[str, Any], key: str) -> dict[str, Any]:
    out = task_output(h.store, attempts(run, key)[-1]["run_id"])
    assert out is not None
    return out


# --- python_task ----------------------------------------------------------------------

def test_python_task_passes_parameters_as_kwargs_and_ctx_when_asked(h: Harness) -> None:
    run = h.run([task("a", "context_view", params={"x": "1", "n": 5})])
    view = _output(h, run, "a")["result"]
    assert view["kwargs"] == {"x": "1", "n": 5}  # values keep their YAML types
    assert view["task_key"] == "a" and view["run_id"] == run["run_id"]


def test_python_task_rejects_unknown_parameters(h: Harness) -> None:
    run = h.run([task("a", "fail_until_attempt", params={"succeed_at": 0, "nope": 1})])
    entry = attempts(run, "a")[0]
    assert entry["state"]["result_state"] == "FAILED"
    assert "does not accept parameter(s) nope" in entry["state"]["state_message"]


def test_python_task_missing_module_fails_with_import_error(h: Harness) -> None:
    run = h.run([{"task_key": "a", "python_task": {"function": "no_such_module_xyz:main"}}])
    entry = attempts(run, "a")[0]
    assert entry["state"]["result_state"] == "FAILED"
    assert entry["state"]["state_message"].startswith("ModuleNotFoundError")


def test_python_task_function_pattern_is_validated(h: Harness) -> None:
    from lakeloom.spec.loader import JobSpecError

    with pytest.raises(JobSpecError) as info:
        h.run([{"task_key": "a", "python_task": {"function": "not a function spec"}}])
    assert info.value.errors[0].field == "python_task.function"


# --- spark_python_task semantics ---------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    if __name__ == "__main__":
        out = Path(sys.argv[1])
        out.write_text(json.dumps({"argv": sys.argv, "name": __name__}))
        code = sys.argv[3] if len(sys.argv) > 3 else "0"
        print("script ran with", sys.argv[1:])
        sys.exit(int(code))
""")


def test_script_runs_as_main_with_argv_relative_to_the_job_file(h: Harness, tmp_path: Path) -> None:
    scripts = h.root / "pipelines" / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "job_script.py").write_text(SCRIPT)
    out = tmp_path / "argv.json"
    path = h.job([{"task_key": "s", "nospark_python_task": {
        "python_file": "scripts/job_script.py", "parameters": [str(out), "{{job.run_id}}"]}}],
        filename="pipelines/script_job.yml")
    saved_argv = list(sys.argv)
    run = h.engine.submit(str(path))
    assert run["state"]["result_state"] == "SUCCESS"
    seen = json.loads(out.read_text())
    assert seen["name"] == "__main__"
    assert seen["argv"] == [str(scripts / "job_script.py"), str(out), str(run["run_id"])]
    assert sys.argv == saved_argv  # restored afterwards


def test_script_nonzero_exit_fails_the_task(h: Harness, tmp_path: Path) -> None:
    (h.root / "s.py").write_text(SCRIPT)
    run = h.run([{"task_key": "s", "nospark_python_task": {
        "python_file": "s.py", "parameters": [str(tmp_path / "o.json"), "x", "3"]}}])
    entry = attempts(run, "s")[0]
    assert entry["state"]["result_state"] == "FAILED"
    assert "exited with status 3" in entry["state"]["state_message"]


# --- python_wheel_task ----------------------------------------------------------------------

WHEEL_PKG = textwrap.dedent("""
    import sys
    def main():
        return {"argv": sys.argv[1:], "prog": sys.argv[0]}
    def exits():
        sys.exit(2)
""")


def test_python_wheel_task_falls_back_to_package_function_with_named_parameters(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "pkgs" / "ll_wheel_pkg").mkdir()
    (tmp_path / "pkgs" / "ll_wheel_pkg" / "__init__.py").write_text(WHEEL_PKG)
    run = h.run([
        {"task_key": "named", "python_wheel_task": {"package_name": "ll_wheel_pkg", "entry_point": "main",
                                                    "named_parameters": {"date": "{{job.parameters.d}}", "n": "3"}}},
        {"task_key": "positional", "python_wheel_task": {"package_name": "ll_wheel_pkg", "entry_point": "main",
                                                         "parameters": ["a", "--b", "{{task.name}}"]}},
        {"task_key": "exits", "python_wheel_task": {"package_name": "ll_wheel_pkg", "entry_point": "exits"}},
        {"task_key": "unknown", "python_wheel_task": {"package_name": "ll_wheel_pkg", "entry_point": "nope"}},
    ], parameters=[{"name": "d", "default": "2026-01-31"}])
    named = _output(h, run, "named")["result"]
    assert named == {"argv": ["--date=2026-01-31", "--n=3"], "prog": "ll_wheel_pkg"}
    assert _output(h, run, "positional")["result"]["argv"] == ["a", "--b", "positional"]
    res = results(run)
    assert res["exits"] == "FAILED"
    assert "exited with status 2" in attempts(run, "exits")[0]["state"]["state_message"]
    assert res["unknown"] == "FAILED"
    assert "entry point 'nope' not found" in attempts(run, "unknown")[0]["state"]["state_message"]


def test_python_wheel_task_uses_a_distribution_entry_point(h: Harness) -> None:
    """An installed distribution's console-script entry point (pytest's own) is found by name."""
    from importlib import metadata

    eps = [ep for ep in metadata.distribution("pytest").entry_points if ep.group == "console_scripts"]
    assert eps
    run = h.run([{"task_key": "w", "python_wheel_task": {"package_name": "pytest", "entry_point": eps[0].name,
                                                          "parameters": ["--version"]}}])
    # pytest --version exits 0 -> the task succeeds; a wrong lookup would fail with LookupError.
    assert results(run)["w"] == "SUCCESS", attempts(run, "w")[0]["state"]["state_message"]


def test_both_wheel_parameter_styles_is_a_validation_error(h: Harness) -> None:
    from lakeloom.spec.loader import JobSpecError

    with pytest.raises(JobSpecError, match="either parameters or named_parameters"):
        h.run([{"task_key": "w", "python_wheel_task": {"package_name": "x", "entry_point": "m",
                                                        "parameters": ["a"], "named_parameters": {"b": "c"}}}])


# --- the real spark_python_task (needs the Spark session provider) -------------------------------

@pytest.mark.spark
def test_real_spark_python_task_shares_the_session(h: Harness, tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    if importlib.util.find_spec("lakeloom.runtime.spark") is None:
        pytest.skip("lakeloom.runtime.spark (the Spark session provider) is not available yet")
    try:  # start the suite's shared session first, so the engine reuses it instead of owning one
        request.getfixturevalue("spark")
    except pytest.FixtureLookupError:
        pass
    out = tmp_path / "count.json"
    (h.root / "count.py").write_text(textwrap.dedent(f"""
        import json, sys
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.getOrCreate()
        n = spark.range(int(sys.argv[1])).count()
        open({str(out)!r}, "w").write(json.dumps(n))
    """))
    try:
        run = h.run([{"task_key": "s", "spark_python_task": {"python_file": "count.py", "parameters": ["7"]}}])
    finally:
        h.engine.stop_spark()
    assert run["state"]["result_state"] == "SUCCESS", run["tasks"][0]["state"]
    assert json.loads(out.read_text()) == 7


# --- task modules of the same name in different folders ---------------------------------

GATE = """
import threading
a_started, release = threading.Event(), threading.Event()
"""

HOLDING_TASKS = """
import mend_gate
from .names import NAME
from pkg.names import NAME as ABSOLUTE

def which():
    mend_gate.a_started.set()
    mend_gate.release.wait(10)   # a's module stays loaded (its run goes on) while b's job runs
    return [NAME, ABSOLUTE, __file__]
"""

QUICK_TASKS = """
from .names import NAME
from pkg.names import NAME as ABSOLUTE

def which():
    return [NAME, ABSOLUTE, __file__]
"""


def test_same_named_task_modules_of_two_folders_each_load_their_own_file(h: Harness, tmp_path: Path) -> None:
    """Two bundles with a package ``pkg`` (relative and absolute imports inside) in one
    process, as in serve or the warm daemon: while a's run still holds its module, b's
    task gets b's files, and a's run goes on with a's."""
    import threading

    (tmp_path / "pkgs" / "mend_gate.py").write_text(GATE)
    paths = {}
    for name, tasks in (("a", HOLDING_TASKS), ("b", QUICK_TASKS)):
        pkg = h.root / f"bundle_{name}" / "pkg"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "names.py").write_text(f"NAME = {name!r}\n")
        (pkg / "tasks.py").write_text(tasks)
        paths[name] = h.write_job_file(h.root / f"bundle_{name}" / "job.yml", [
            {"task_key": "t", "python_task": {"function": "pkg.tasks:which"}}], name=f"job_{name}")
    import mend_gate

    runs: dict[str, Any] = {}
    first = threading.Thread(target=lambda: runs.update(a=h.engine.submit(str(paths["a"]))))
    first.start()
    try:
        assert mend_gate.a_started.wait(60), "a's task never started"
        runs["b"] = h.engine.submit(str(paths["b"]))
    finally:
        mend_gate.release.set()
        first.join(60)
    for name in ("a", "b"):
        assert runs[name]["state"]["result_state"] == "SUCCESS", runs[name]["state"]
        got = _output(h, runs[name], "t")["result"]
        assert got == [name, name, str(h.root / f"bundle_{name}" / "pkg" / "tasks.py")], (name, got)
    assert "pkg" not in sys.modules  # each run's scope forgot its package when it ended
    sys.modules.pop("mend_gate", None)
