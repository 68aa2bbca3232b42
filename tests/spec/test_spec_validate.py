"""`validate_file`: one test per validation error class; each names file, line, task key, field."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from lakeloom.engine.validate import validate_file
from lakeloom.plugin_manager import LakeloomPluginManager, build_plugin_manager
from lakeloom.spec.loader import SpecError


@pytest.fixture(scope="module")
def pm() -> LakeloomPluginManager:
    return build_plugin_manager()


def write(tmp_path: Path, text: str, name: str = "job.yml") -> tuple[Path, str]:
    text = textwrap.dedent(text).lstrip("\n")
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path, text


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


def only_error(pm: LakeloomPluginManager, path: Path) -> SpecError:
    _, problems = validate_file(path, pm)
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1, [e.format() for e in errors]
    assert errors[0].file == str(path)
    return errors[0]


def test_valid_file_has_no_errors(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, _ = write(tmp_path, """
        name: ok
        parameters: [{name: d, default: "2026-01-01"}]
        tasks:
          - task_key: a
            python_task: {function: "m:f", parameters: {d: "{{job.parameters.d}}"}}
          - task_key: c
            depends_on: [{task_key: a}]
            condition_task: {op: EQUAL_TO, left: "{{tasks.a.values.x}}", right: "1"}
          - task_key: b
            depends_on: [{task_key: c, outcome: "true"}]
            for_each_task:
              inputs: "[1, 2]"
              task: {task_key: b_each, python_task: {function: "m:f", parameters: {i: "{{input}}"}}}
    """)
    docs, problems = validate_file(path, pm)
    assert len(docs) == 1 and problems == []


def test_yaml_syntax_error(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"
          - task_key: b
    """)
    err = only_error(pm, path)
    assert err.message.startswith("invalid YAML")
    assert err.line == line_of(text, "task_key: b")
    assert err.task_key is None and err.field is None  # the file could not be parsed into tasks
    assert err.format().startswith(f"{path}:{err.line}: invalid YAML")


def test_schema_error(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
            max_retries: lots
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "max_retries"), "a", "max_retries")
    assert "integer" in err.message


def test_schema_error_inside_a_task_block(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            condition_task:
              op: BIGGER
              left: "1"
              right: "2"
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "op: BIGGER"), "a", "condition_task.op")


def test_duplicate_task_keys(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
          - task_key: a
            python_task: {function: "m:g"}
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "task_key: a", 2), "a", "task_key")
    assert "duplicate task key" in err.message


def test_unknown_depends_on(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
          - task_key: b
            depends_on:
              - task_key: a
              - task_key: nope
            python_task: {function: "m:f"}
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "task_key: nope"), "b", "depends_on[1].task_key")
    assert "'nope'" in err.message


def test_cycle_prints_the_cycle(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: start
            python_task: {function: "m:f"}
          - task_key: a
            depends_on: [{task_key: c}, {task_key: start}]
            python_task: {function: "m:f"}
          - task_key: b
            depends_on: [{task_key: a}]
            python_task: {function: "m:f"}
          - task_key: c
            depends_on: [{task_key: b}]
            python_task: {function: "m:f"}
    """)
    err = only_error(pm, path)
    assert err.message == "dependency cycle: a -> c -> b -> a"
    assert (err.line, err.task_key, err.field) == (line_of(text, "depends_on: [{task_key: c}"), "a", "depends_on")


def test_outcome_on_a_non_condition_dependency(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
          - task_key: b
            depends_on:
              - task_key: a
                outcome: "true"
            python_task: {function: "m:f"}
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, 'outcome: "true"'), "b", "depends_on[0].outcome")
    assert "condition_task" in err.message


def test_zero_task_blocks(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
          - task_key: empty
            description: forgot the task block
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "task_key: empty"), "empty", "*_task")
    assert "no task type" in err.message and "python_task" in err.message


def test_two_task_blocks(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: both
            python_task: {function: "m:f"}
            condition_task: {op: EQUAL_TO, left: "a", right: "b"}
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "condition_task:"), "both", "*_task")
    assert "python_task" in err.message and "condition_task" in err.message


def test_unknown_task_kind_lists_installed_kinds(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            made_up_task: {x: 1}
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "made_up_task"), "a", "made_up_task")
    assert "'made_up_task'" in err.message
    for kind in pm.task_types:
        assert kind in err.message


def test_missing_python_file_is_resolved_relative_to_the_yaml(tmp_path: Path, pm: LakeloomPluginManager,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "jobs" / "scripts").mkdir(parents=True)
    (tmp_path / "jobs" / "scripts" / "present.py").write_text("print(1)\n")
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: here
            spark_python_task: {python_file: scripts/present.py}
          - task_key: gone
            spark_python_task:
              python_file: scripts/missing.py
    """, name="jobs/job.yml")
    monkeypatch.chdir(tmp_path)  # not the YAML's folder: paths must not depend on the cwd
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "missing.py"), "gone",
                                                   "spark_python_task.python_file")
    assert str(tmp_path / "jobs" / "scripts" / "missing.py") in err.message


def test_invalid_dynamic_reference(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: j
        tasks:
          - task_key: a
            python_task:
              function: "m:f"
              parameters:
                ok: "{{job.run_id}}"
                bad: "run {{job.naem}}"
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "job.naem"), "a", "python_task.parameters.bad")
    assert "{{job.naem}}" in err.message


@pytest.mark.parametrize(("value", "fragment"), [
    ("{{job.parameters.undeclared}}", "no parameter 'undeclared'"),
    ("{{tasks.ghost.values.x}}", "no task 'ghost'"),
    ("{{tasks.later.values.x}}", "not upstream"),
    ("{{input}}", "only available inside a for_each_task"),
])
def test_reference_to_unknown_names(tmp_path: Path, pm: LakeloomPluginManager, value: str, fragment: str) -> None:
    path, text = write(tmp_path, f"""
        name: j
        tasks:
          - task_key: a
            python_task:
              function: "m:f"
              parameters: {{x: "{value}"}}
          - task_key: later
            depends_on: [{{task_key: a}}]
            python_task: {{function: "m:f"}}
    """)
    err = only_error(pm, path)
    assert (err.line, err.task_key, err.field) == (line_of(text, "parameters:"), "a", "python_task.parameters.x")
    assert fragment in err.message


def test_validate_does_not_start_a_jvm(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, _ = write(tmp_path, """
        name: j
        tasks:
          - task_key: s
            spark_python_task: {python_file: x.py}
    """)
    (tmp_path / "x.py").write_text("")
    validate_file(path, pm)
    import subprocess
    code = ("import sys\nfrom lakeloom.engine.validate import validate_file\n"
            "from lakeloom.plugin_manager import build_plugin_manager\n"
            f"d, e = validate_file({str(path)!r}, build_plugin_manager())\n"
            "assert not [x for x in e if x.severity == 'error'], e\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_cron_and_timezone_are_reported_at_their_lines(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        name: nightly
        schedule:
          quartz_cron_expression: "0 61 * * * ?"
          timezone_id: Mars/Olympus
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
    """)
    _, errors = validate_file(path, pm)
    by_field = {e.field: e for e in errors}
    cron = by_field["schedule.quartz_cron_expression"]
    assert cron.line == line_of(text, "quartz_cron_expression") and "out of range" in cron.message
    tz = by_field["schedule.timezone_id"]
    assert tz.line == line_of(text, "timezone_id") and "Mars/Olympus" in tz.message
    assert all(e.file == str(path) for e in errors) and len(errors) == 2


def test_bundle_job_reference_to_a_key_this_file_lacks_is_a_warning(tmp_path: Path, pm: LakeloomPluginManager) -> None:
    path, text = write(tmp_path, """
        resources:
          jobs:
            parent:
              name: Parent
              tasks:
                - task_key: typo
                  run_job_task: {job_id: "${resources.jobs.chidl.id}"}
                - task_key: good
                  run_job_task: {job_id: "${resources.jobs.child.id}"}
            child:
              name: Child
              tasks:
                - {task_key: c, python_task: {function: "os:getcwd"}}
        """)
    _, problems = validate_file(path, pm)
    assert [p for p in problems if p.severity == "error"] == []
    [warning] = [p for p in problems if "no job with key" in p.message]
    assert (warning.task_key, warning.field, warning.line) == ("typo", "run_job_task.job_id", line_of(text, "chidl"))
