"""Loading job files: single-job and bundle shapes, relative paths, ignored and unknown fields."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lakeloom.engine.validate import validate_file
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.spec.loader import JobSpecError, load_job_documents, load_job_file
from lakeloom.spec.models import RunIf


def write(path: Path, text: str) -> str:
    text = textwrap.dedent(text).lstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


def test_single_job_shape(tmp_path: Path) -> None:
    write(tmp_path / "job.yml", """
        name: daily
        description: the daily job
        timeout_seconds: 3600
        max_concurrent_runs: 2
        tags: {team: data}
        parameters:
          - {name: run_date, default: "2026-01-01"}
          - {name: limit, default: 10}
        schedule: {quartz_cron_expression: "0 0 1 * * ?", timezone_id: UTC}
        email_notifications: {on_failure: [a@example.com]}
        tasks:
          - task_key: a
            max_retries: -1
            min_retry_interval_millis: 500
            retry_on_timeout: true
            timeout_seconds: 30
            python_task: {function: "m:f"}
          - task_key: b
            depends_on: [{task_key: a}]
            run_if: ALL_DONE
            disabled: true
            python_task: {function: "m:f"}
    """)
    loaded = load_job_file(tmp_path / "job.yml")
    job = loaded.job
    assert loaded.key is None and loaded.source == (tmp_path / "job.yml").resolve()
    assert job.name == "daily" and job.timeout_seconds == 3600 and job.max_concurrent_runs == 2
    assert job.parameter_defaults == {"run_date": "2026-01-01", "limit": "10"}  # defaults are strings
    assert job.schedule is not None and job.schedule.quartz_cron_expression == "0 0 1 * * ?"
    a, b = job.tasks
    assert (a.max_retries, a.min_retry_interval_millis, a.retry_on_timeout, a.timeout_seconds) == (-1, 500, True, 30)
    assert a.run_if == RunIf.ALL_SUCCESS and a.kind == "python_task"
    assert b.run_if == RunIf.ALL_DONE and b.disabled and b.depends_on[0].task_key == "a"


def test_bundle_shape_with_several_jobs(tmp_path: Path) -> None:
    write(tmp_path / "bundle.yml", """
        resources:
          jobs:
            ingest:
              tasks:
                - task_key: a
                  python_task: {function: "m:f"}
            report:
              name: Nightly report
              tasks:
                - task_key: r
                  python_task: {function: "m:g"}
    """)
    docs = load_job_documents(tmp_path / "bundle.yml")
    assert [(d.key, d.job.name) for d in docs] == [("ingest", "ingest"), ("report", "Nightly report")]
    assert load_job_file(tmp_path / "bundle.yml", "report").job.tasks[0].task_key == "r"
    assert load_job_file(tmp_path / "bundle.yml", "Nightly report").key == "report"
    with pytest.raises(JobSpecError, match="choose one with --job"):
        load_job_file(tmp_path / "bundle.yml")
    with pytest.raises(JobSpecError, match="no job 'nope'"):
        load_job_file(tmp_path / "bundle.yml", "nope")


def test_bundle_errors_name_the_line_inside_the_bundle(tmp_path: Path) -> None:
    text = write(tmp_path / "bundle.yml", """
        resources:
          jobs:
            ingest:
              tasks:
                - task_key: a
                  python_task: {function: "m:f"}
                  max_retries: many
    """)
    with pytest.raises(JobSpecError) as info:
        load_job_documents(tmp_path / "bundle.yml")
    err = info.value.errors[0]
    assert (err.line, err.task_key, err.field) == (line_of(text, "max_retries"), "a", "max_retries")


def test_paths_are_relative_to_the_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "proj" / "jobs" / "scripts" / "s.py", "print('hi')\n")
    write(tmp_path / "proj" / "jobs" / "job.yml", """
        name: j
        tasks:
          - task_key: s
            spark_python_task: {python_file: scripts/s.py}
    """)
    monkeypatch.chdir(tmp_path)
    loaded = load_job_file("proj/jobs/job.yml")
    assert loaded.base_dir == (tmp_path / "proj" / "jobs").resolve()
    _, problems = validate_file(tmp_path / "proj" / "jobs" / "job.yml", build_plugin_manager())
    assert problems == []


def test_databricks_only_fields_are_warned_and_ignored(tmp_path: Path) -> None:
    text = write(tmp_path / "job.yml", """
        name: j
        git_source: {git_url: "https://example.com/repo.git"}
        tasks:
          - task_key: a
            existing_cluster_id: 0101-abc
            python_task: {function: "m:f"}
          - task_key: b
            new_cluster: {spark_version: 15.4.x-scala2.12}
            python_task: {function: "m:f"}
    """)
    docs, problems = validate_file(tmp_path / "job.yml", build_plugin_manager())
    assert len(docs) == 1
    assert all(p.severity == "warning" for p in problems)
    got = {(p.task_key, p.field, p.line) for p in problems}
    # Compute fields are honoured (runtime/compute.py); the cluster's Databricks-only ones warn.
    # existing_cluster_id is checked against the workspace's compute.clusters when one is given.
    assert got == {
        (None, "git_source", line_of(text, "git_source")),
        ("b", "new_cluster.spark_version", line_of(text, "new_cluster")),
    }
    assert all("ignored" in p.message for p in problems)
    assert "git_source" not in docs[0].job.model_dump()
    assert "warning:" in next(p for p in problems if p.field == "new_cluster.spark_version").format()


def test_unknown_lakeloom_field_is_an_error_naming_file_line_task_and_field(tmp_path: Path) -> None:
    text = write(tmp_path / "job.yml", """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
          - task_key: b
            python_task: {function: "m:f"}
            max_retry: 3
    """)
    with pytest.raises(JobSpecError) as info:
        load_job_documents(tmp_path / "job.yml")
    (err,) = info.value.errors
    assert err.file == str(tmp_path / "job.yml")
    assert (err.line, err.task_key, err.field) == (line_of(text, "max_retry"), "b", "max_retry")
    assert err.message == "unknown field"
    assert str(info.value) == f"{tmp_path / 'job.yml'}:{err.line}: task 'b': field 'max_retry': unknown field"


def test_unknown_job_level_field_and_nested_field(tmp_path: Path) -> None:
    text = write(tmp_path / "job.yml", """
        name: j
        max_concurrency: 2
        schedule: {quartz_cron_expression: "0 0 * * * ?", tz: UTC}
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
    """)
    with pytest.raises(JobSpecError) as info:
        load_job_documents(tmp_path / "job.yml")
    got = {(e.field, e.line, e.task_key) for e in info.value.errors}
    assert ("max_concurrency", line_of(text, "max_concurrency"), None) in got
    assert ("schedule.tz", line_of(text, "schedule:"), None) in got


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    text = write(tmp_path / "job.yml", """
        name: j
        tasks:
          - task_key: a
            python_task: {function: "m:f"}
        name: k
    """)
    with pytest.raises(JobSpecError) as info:
        load_job_documents(tmp_path / "job.yml")
    assert info.value.errors[0].line == line_of(text, "name: k")


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("- just\n- a list\n", "must be a mapping"),
    ("resources: {pipelines: {}}\nother: 1\n", "jobs"),
])
def test_malformed_documents(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "job.yml").write_text(text)
    with pytest.raises(JobSpecError, match=fragment):
        load_job_documents(tmp_path / "job.yml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobSpecError, match="cannot read job file"):
        load_job_documents(tmp_path / "absent.yml")
