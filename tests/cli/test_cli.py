"""The `lakeloom` command end to end against a temporary workspace (no Spark needed)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakeloom.cli.main import cli

TASKS = '''
import os
def ok(name="x"):
    print(f"hello {name}")
    return name
def flaky(marker):
    if not os.path.exists(marker):
        raise RuntimeError("first run fails on purpose")
    print("now it works")
'''

JOB = '''
name: cli_job
parameters: [{name: who, default: world}]
tasks:
  - task_key: a
    python_task: {function: "cli_tasks:ok", parameters: {name: "{{job.parameters.who}}"}}
  - task_key: b
    depends_on: [{task_key: a}]
    python_task: {function: "cli_tasks:flaky", parameters: {marker: "MARKER"}}
  - task_key: c
    depends_on: [{task_key: b}]
    python_task: {function: "cli_tasks:ok"}
'''


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_tasks.py").write_text(TASKS)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "cli.yml").write_text(JOB.replace("MARKER", str(tmp_path / "fixed")))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LAKELOOM_WORKSPACE", str(tmp_path))
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_help_is_fast_and_imports_no_heavy_module() -> None:
    code = ("import sys; from lakeloom.cli.main import cli; "
            "heavy = [m for m in ('pyspark', 'mlflow', 'great_expectations', 'sqlalchemy', 'pandas') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_validate_ok_and_invalid_exit_codes(ws: Path) -> None:
    code, out, _ = invoke("validate", str(ws / "jobs" / "cli.yml"))
    assert code == 0 and "OK (cli_job; 3 tasks)" in out
    bad = ws / "bad.yml"
    bad.write_text("name: x\ntasks:\n  - task_key: a\n    depends_on: [{task_key: nope}]\n"
                   "    python_task: {function: 'm:f'}\n")
    code, _, err = invoke("validate", str(bad))
    assert code == 2
    assert f"{bad}:4: task 'a': field 'depends_on[0].task_key': depends on unknown task 'nope'" in err


def test_run_failure_then_repair_succeeds(ws: Path) -> None:
    code, out, _ = invoke("run", str(ws / "jobs" / "cli.yml"), "--param", "who=lake", "--json")
    assert code == 1
    run = json.loads(out)
    states = {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]}
    assert states == {"a": "SUCCESS", "b": "FAILED", "c": "UPSTREAM_FAILED"}
    assert run["job_parameters"] == [{"name": "who", "default": "world", "value": "lake"}]
    run_id = str(run["run_id"])

    code, out, _ = invoke("runs", "logs", run_id, "a")
    assert code == 0 and "hello lake" in out
    code, out, _ = invoke("runs", "show", run_id)
    assert "RuntimeError: first run fails on purpose" in out and "Traceback" in out

    (ws / "fixed").write_text("")
    code, out, _ = invoke("runs", "repair", run_id, "--rerun-all-failed", "--rerun-dependents", "--json")
    assert code == 0, out
    repaired = json.loads(out)
    assert repaired["run_id"] == run["run_id"]
    assert repaired["state"]["result_state"] == "SUCCESS"
    assert [h["type"] for h in repaired["repair_history"]] == ["ORIGINAL", "REPAIR"]
    assert sorted(t["task_key"] for t in repaired["tasks"]) == ["a", "b", "b", "c", "c"]

    code, out, _ = invoke("runs", "list", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == [run["run_id"]]


def test_run_by_job_name_with_only(ws: Path) -> None:
    code, out, _ = invoke("jobs", "list", "--json")
    # The workspace's own file, plus the job the installed retail pipeline package contributes.
    assert sorted(j["name"] for j in json.loads(out)) == ["cli_job", "retail_daily"]
    code, out, _ = invoke("run", "cli_job", "--only", "a", "--json")
    assert code == 0
    assert [t["task_key"] for t in json.loads(out)["tasks"]] == ["a"]


def test_unknown_parameter_is_rejected_before_running(ws: Path) -> None:
    code, _, err = invoke("run", str(ws / "jobs" / "cli.yml"), "--param", "nope=1")
    assert code == 2 and "unknown job parameter(s) nope" in err
    code, out, _ = invoke("runs", "list", "--json")
    assert json.loads(out) == []


def test_plugins_lists_builtins_and_entry_point_plugins(ws: Path) -> None:
    code, out, _ = invoke("plugins", "--json")
    infos = {i["name"]: i for i in json.loads(out)}
    assert infos["python_tasks"]["task_kinds"] == ["python_task", "spark_python_task", "python_wheel_task"]
    assert infos["shell"]["distribution"] == "lakeloom-shell"
    assert "shell_task" in infos["shell"]["task_kinds"]


def test_disable_plugin_by_env(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKELOOM_DISABLE_PLUGINS", "condition_task")
    code, out, _ = invoke("plugins", "--json")
    assert "condition_task" not in {i["name"] for i in json.loads(out)}
    job = ws / "cond.yml"
    job.write_text(textwrap.dedent("""
        name: c
        tasks:
          - task_key: c
            condition_task: {op: EQUAL_TO, left: "1", right: "1"}
    """))
    code, _, err = invoke("validate", str(job))
    assert code == 2 and "unknown task kind 'condition_task'" in err


def test_workspace_option_picks_its_jobs_from_any_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--workspace DIR run NAME` from the folder of another workspace with a job of the same
    name (and a task module of the same name) runs DIR's job, in DIR's store."""
    for name in ("here", "there"):
        (tmp_path / name / "jobs").mkdir(parents=True)
        (tmp_path / name / "jobs" / "same_tasks.py").write_text(f"def which():\n    print('job of {name}')\n")
        (tmp_path / name / "jobs" / "same.yml").write_text(
            "name: same\ntasks:\n  - task_key: t\n    python_task: {function: 'same_tasks:which'}\n")
    monkeypatch.delenv("LAKELOOM_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path / "here")
    for option in (str(tmp_path / "there"), "../there"):
        code, out, err = invoke("--workspace", option, "run", "same", "--json")
        assert code == 0, err
        run_id = json.loads(out)["run_id"]
        assert (tmp_path / "there" / ".lakeloom" / "logs" / str(run_id) / "t" / "0.log").read_text() == "job of there\n"
    assert not (tmp_path / "here" / ".lakeloom").exists()
    code, out, err = invoke("run", "same", "--json")  # and the cwd's workspace without the option
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    assert (tmp_path / "here" / ".lakeloom" / "logs" / str(run_id) / "t" / "0.log").read_text() == "job of here\n"
