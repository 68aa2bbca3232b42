"""What ``bundle run`` prints once the run ends, in the shape of ``databricks bundle run``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import ll_tasks  # noqa: E402
from harness import Harness, cond, task  # noqa: E402
from lakeloom.cli.run_output import job_output_text, task_text  # noqa: E402


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    ll_tasks.reset()
    h = Harness(tmp_path)
    yield h
    h.close()


def test_a_single_script_task_prints_what_it_wrote(harness: Harness) -> None:
    run = harness.run([task("task", "say", params={"text": "Hello, world!"})])
    assert job_output_text(harness.store, run, harness.workspace.resolve_stored) == "Hello, world!\n"


def test_several_outputs_each_under_its_task_and_tasks_without_output_left_out(harness: Harness) -> None:
    run = harness.run([task("first", "say", params={"text": "a 0"}),
                       cond("check", "EQUAL_TO", "1", "1", depends_on=[{"task_key": "first"}]),
                       task("second", "say", params={"text": "b 0"}, deps=["check"])])
    text = job_output_text(harness.store, run, harness.workspace.resolve_stored)
    assert text == "Output:\n=======\nTask first:\na 0\n\n=======\nTask second:\nb 0\n\n"


def test_notebook_and_sql_outputs_render_as_the_cli_does() -> None:
    nb = {"notebook_task": {"notebook_path": "n.py"}}
    assert task_text(nb, {"notebook_output": {"result": None}}, str) == ""
    assert task_text(nb, {"notebook_output": {"result": "done", "truncated": True}}, str) == "done\n[truncated...]\n"
    sql = {"sql_task": {"file": {"path": "q.sql"}}}
    assert task_text(sql, {"sql_output": {"row_count": 1}}, str) == 'SQL Task Output:\n{\n  "row_count": 1\n}'
    assert task_text({"condition_task": {}}, {}, str) is None


def test_bundle_run_prints_the_output_on_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lakeloom.cli.main import cli

    monkeypatch.setenv("LAKELOOM_USER_NAME", "ada@example.com")
    root = tmp_path / "b"
    (root / "src").mkdir(parents=True)
    (root / "databricks.yml").write_text(
        "bundle: {name: out}\nresources:\n  jobs:\n    hello:\n      name: hello\n      tasks:\n"
        "        - {task_key: task, python_task: {function: 'hello:main'}}\n")
    (root / "hello.py").write_text("def main():\n    print('Hello, world!')\n")
    res = CliRunner().invoke(cli, ["-w", str(root), "bundle", "run", "hello", "--bundle", str(root), "--no-daemon"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "Hello, world!\n"
