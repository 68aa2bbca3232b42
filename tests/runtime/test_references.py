from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lakeloom.runtime.references import (
    InvalidReference,
    ReferenceScope,
    TaskRef,
    UnresolvedReference,
    check,
    resolve,
    resolve_deep,
)

# Saturday; the trigger time is the following Monday.
START = datetime(2024, 5, 4, 12, 34, 56, 789000, tzinfo=timezone.utc)
TRIGGER = datetime(2024, 5, 6, 1, 2, 3, tzinfo=timezone.utc)
COMMIT = datetime(2024, 5, 3, 23, 59, 58, tzinfo=timezone.utc)

TASKS = {
    "ingest": TaskRef(
        values={"count": 42, "ok": True, "off": False, "name": "orders", "cfg": {"a": [1, {"b": None}], "f": True},
                "ratio": 0.5, "nothing": None, "dotted.key": "d"},
        result_state="SUCCESS", run_id=9001, execution_count=2, error_code=None),
    "broken": TaskRef(result_state="FAILED", run_id=9002, execution_count=1, error_code="RUN_EXECUTION_ERROR"),
    "query": TaskRef(result_state="SUCCESS", run_id=9003, output={
        "rows": [{"id": 1, "n": "x"}, {"id": 2, "n": "y"}], "first_row": {"id": 1, "n": "x"}, "alert_state": "OK"}),
    "rows_only": TaskRef(output={"rows": [{"id": 7}]}),
    "running": TaskRef(result_state=None, run_id=None),
}


def make_scope(**overrides: Any) -> ReferenceScope:
    fields: dict[str, Any] = dict(
        job_id=11, job_name="daily sales", run_id=500, repair_count=1,
        job_parameters={"env": "dev", "p$@": "special", "my.param": "dotted", "with-dash": "dash"},
        start_time=START, trigger_type="TABLE",
        trigger_info={
            "file_arrival": {"location": "s3://bucket/landing/"},
            "table_update": {"updated_tables": ["main.sales.orders"],
                             "main.sales.orders": {"version": 3, "commit_timestamp": COMMIT}},
        },
        trigger_time=TRIGGER, task_name="report", task_run_id=501, execution_count=3, attempt_number=1,
        task_notebook_path="/Workspace/nb/report", task_lookup=TASKS.get,
        workspace_id=1234567890, workspace_url="http://localhost:8420",
    )
    fields.update(overrides)
    return ReferenceScope(**fields)


SCOPE = make_scope()


@pytest.mark.parametrize(("text", "expected"), [
    ("{{job.id}}", "11"),
    ("{{job.name}}", "daily sales"),
    ("{{job.run_id}}", "500"),
    ("{{job.repair_count}}", "1"),
    ("{{job.parameters.env}}", "dev"),
    ("{{job.parameters.with-dash}}", "dash"),
    ("{{job.parameters.`p$@`}}", "special"),
    ("{{job.parameters.`my.param`}}", "dotted"),
    ("{{job.parameters.[p$@]}}", "special"),  # the bracketed escape
    ("{{job.parameters.[my.param]}}", "dotted"),
    ("{{tasks.[ingest].values.[dotted.key]}}", "d"),
    ("{{job.parameters.my.param}}", "dotted"),
    ("{{job.trigger.type}}", "TABLE"),
    ("{{job.trigger.file_arrival.location}}", "s3://bucket/landing/"),
    ("{{job.trigger.table_update.updated_tables}}", '["main.sales.orders"]'),
    ("{{job.trigger.table_update.main.sales.orders.version}}", "3"),
    ("{{job.trigger.table_update.`main.sales.orders`.version}}", "3"),
    ("{{job.trigger.table_update.main.sales.orders.commit_timestamp.iso_datetime}}", "2024-05-03T23:59:58.000Z"),
    ("{{job.trigger.table_update.main.sales.orders.commit_timestamp.iso_date}}", "2024-05-03"),
    ("{{task.name}}", "report"),
    ("{{task.run_id}}", "501"),
    ("{{task.execution_count}}", "3"),
    ("{{task.notebook_path}}", "/Workspace/nb/report"),
    ("{{workspace.id}}", "1234567890"),
    ("{{workspace.url}}", "http://localhost:8420"),
    # deprecated forms
    ("{{job_id}}", "11"),
    ("{{run_id}}", "501"),
    ("{{parent_run_id}}", "500"),
    ("{{start_date}}", "2024-05-04"),
    ("{{task_retry_count}}", "1"),
    ("{{task_key}}", "report"),
])
def test_scalar_references(text: str, expected: str) -> None:
    assert resolve(text, SCOPE) == expected


@pytest.mark.parametrize(("arg", "start", "trigger"), [
    ("iso_date", "2024-05-04", "2024-05-06"),
    ("iso_datetime", "2024-05-04T12:34:56.789Z", "2024-05-06T01:02:03.000Z"),
    ("iso_weekday", "6", "1"),
    ("is_weekday", "false", "true"),
    ("year", "2024", "2024"),
    ("month", "5", "5"),
    ("day", "4", "6"),
    ("hour", "12", "1"),
    ("minute", "34", "2"),
    ("second", "56", "3"),
    ("timestamp_ms", str(int(START.timestamp()) * 1000 + 789), str(int(TRIGGER.timestamp()) * 1000)),
])
def test_time_arguments(arg: str, start: str, trigger: str) -> None:
    assert resolve(f"{{{{job.start_time.{arg}}}}}", SCOPE) == start
    assert resolve(f"{{{{job.trigger.time.{arg}}}}}", SCOPE) == trigger


@pytest.mark.parametrize(("day", "weekday", "is_weekday"), [
    (datetime(2024, 5, 3, 23, 59, tzinfo=timezone.utc), "5", "true"),    # Friday
    (datetime(2024, 5, 5, 0, 0, tzinfo=timezone.utc), "7", "false"),     # Sunday
])
def test_weekday_boundaries(day: datetime, weekday: str, is_weekday: str) -> None:
    scope = make_scope(start_time=day)
    assert resolve("{{job.start_time.iso_weekday}} {{job.start_time.is_weekday}}", scope) == f"{weekday} {is_weekday}"


def test_times_are_rendered_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    scope = make_scope(start_time=datetime(2024, 1, 1, 1, 30, tzinfo=plus_two))
    assert resolve("{{job.start_time.iso_datetime}} {{job.start_time.iso_weekday}}", scope) == \
        "2023-12-31T23:30:00.000Z 7"


def test_trigger_time_falls_back_to_start_time() -> None:
    assert resolve("{{job.trigger.time.iso_date}}", make_scope(trigger_time=None)) == "2024-05-04"


def test_trigger_time_may_be_epoch_millis() -> None:
    scope = make_scope(trigger_time=int(TRIGGER.timestamp() * 1000))
    assert resolve("{{job.trigger.time.iso_datetime}}", scope) == "2024-05-06T01:02:03.000Z"


def test_commit_timestamp_accepts_epoch_millis_and_iso_strings() -> None:
    for stamp in (int(COMMIT.timestamp() * 1000), "2024-05-03T23:59:58+00:00"):
        info = {"table_update": {"updated_tables": ["c.s.t"], "c.s.t": {"version": 1, "commit_timestamp": stamp}}}
        assert resolve("{{job.trigger.table_update.c.s.t.commit_timestamp.hour}}",
                       make_scope(trigger_info=info)) == "23"


@pytest.mark.parametrize(("text", "expected"), [
    ("{{tasks.ingest.values.count}}", "42"),
    ("{{tasks.ingest.values.ok}}", "true"),
    ("{{tasks.ingest.values.off}}", "false"),
    ("{{tasks.ingest.values.name}}", "orders"),
    ("{{tasks.ingest.values.ratio}}", "0.5"),
    ("{{tasks.ingest.values.nothing}}", "null"),
    ("{{tasks.ingest.values.cfg}}", '{"a":[1,{"b":null}],"f":true}'),
    ("{{tasks.ingest.values.cfg.a.0}}", "1"),
    ("{{tasks.ingest.values.cfg.f}}", "true"),
    ("{{tasks.ingest.values.`dotted.key`}}", "d"),
    ("{{tasks.ingest.result_state}}", "SUCCESS"),
    ("{{tasks.ingest.run_id}}", "9001"),
    ("{{tasks.ingest.execution_count}}", "2"),
    ("{{tasks.ingest.error_code}}", ""),
    ("{{tasks.broken.result_state}}", "FAILED"),
    ("{{tasks.broken.error_code}}", "RUN_EXECUTION_ERROR"),
    ("{{tasks.query.output.rows}}", '[{"id":1,"n":"x"},{"id":2,"n":"y"}]'),
    ("{{tasks.query.output.first_row}}", '{"id":1,"n":"x"}'),
    ("{{tasks.query.output.first_row.n}}", "x"),
    ("{{tasks.query.output.alert_state}}", "OK"),
    ("{{tasks.rows_only.output.first_row.id}}", "7"),
])
def test_task_references(text: str, expected: str) -> None:
    assert resolve(text, SCOPE) == expected


@pytest.mark.parametrize(("value", "text", "expected"), [
    ("plain", "{{input}}", "plain"),
    (7, "{{input}}", "7"),
    (True, "{{input}}", "true"),
    ({"region": "eu", "n": 2, "flag": False}, "{{input}}", '{"region":"eu","n":2,"flag":false}'),
    ({"region": "eu", "n": 2, "flag": False}, "{{input.region}}/{{input.n}}/{{input.flag}}", "eu/2/false"),
    ({"nested": {"k": ["a", "b"]}}, "{{input.nested.k.1}}", "b"),
    (["x", "y"], "{{input.1}}", "y"),
])
def test_for_each_input(value: Any, text: str, expected: str) -> None:
    assert resolve(text, make_scope(input_value=value, has_input=True)) == expected


def test_whitespace_embedding_and_multiple_references() -> None:
    text = "run {{ job.run_id }} of {{job.name}} on {{  job.start_time.iso_date}}!"
    assert resolve(text, SCOPE) == "run 500 of daily sales on 2024-05-04!"


def test_text_without_references_is_returned_unchanged() -> None:
    text = "no references { here } {not}"
    assert resolve(text, SCOPE) is text


@pytest.mark.parametrize("text", [
    "{{job.id",            # missing closing braces
    "{{job.id}",
    "{job.id}}",
    "{{}}",
    "{{ }}",
    "{{job..id}}",
    "{{.job.id}}",
    "{{job.id.}}",
    "{{job id}}",
    "{{job.parameters.p$@}}",  # special characters need backticks
    "{{job.parameters.`unterminated}}",
    "{{job.parameters.[unterminated}}",
    "{{foo.bar}}",         # unknown namespaces
    "{{foo}}",
    "{{secrets/scope/key}}",
    "{{backfill_date_x}}",
])
def test_syntax_errors_and_unknown_namespaces_stay_literal(text: str) -> None:
    assert resolve(text, SCOPE) == text
    assert check(text, task_keys=set(), job_parameter_names=set(), in_for_each=False, upstream_of=None) == []


def test_literal_text_next_to_a_valid_reference() -> None:
    assert resolve("{{foo.bar}}-{{job.id}}-{{job.id", SCOPE) == "{{foo.bar}}-11-{{job.id"


@pytest.mark.parametrize("text", [
    "{{job}}",
    "{{job.naem}}",
    "{{job.parameters}}",
    "{{job.start_time}}",
    "{{job.start_time.bogus}}",
    "{{job.start_time.iso_date.x}}",
    "{{job.trigger.time.bogus}}",
    "{{job.trigger.bogus}}",
    "{{job.trigger.file_arrival.path}}",
    "{{job.trigger.table_update.c.s.t.bogus}}",
    "{{job.trigger.table_update.c.s.t.commit_timestamp.bogus}}",
    "{{task}}",
    "{{task.naem}}",
    "{{tasks}}",
    "{{tasks.ingest}}",
    "{{tasks.ingest.bogus}}",
    "{{tasks.ingest.values}}",
    "{{tasks.ingest.result_state.x}}",
    "{{tasks.query.output}}",
    "{{tasks.query.output.bogus}}",
    "{{tasks.query.output.first_row.a.b}}",
    "{{workspace.name}}",
    "{{start_date.x}}",
])
def test_invalid_names_in_known_namespaces_raise(text: str) -> None:
    with pytest.raises(InvalidReference) as info:
        resolve(f"prefix {text} suffix", SCOPE)
    assert info.value.reference == text
    assert text in str(info.value)
    problems = check(text, task_keys=set(TASKS), job_parameter_names=set(), in_for_each=True, upstream_of=None)
    assert len(problems) == 1 and problems[0].startswith(text)


@pytest.mark.parametrize(("text", "scope", "fragment"), [
    ("{{job.parameters.missing}}", SCOPE, "no parameter 'missing'"),
    ("{{tasks.ingest.values.unset}}", SCOPE, "did not set a task value 'unset'"),
    ("{{tasks.ingest.values.cfg.zzz}}", SCOPE, "no element 'zzz'"),
    ("{{tasks.skipped.values.x}}", SCOPE, "task 'skipped' has not run"),
    ("{{tasks.skipped.result_state}}", SCOPE, "task 'skipped' has not run"),
    ("{{tasks.running.result_state}}", SCOPE, "has no result_state yet"),
    ("{{tasks.ingest.output.rows}}", SCOPE, "no SQL output 'rows'"),
    ("{{tasks.query.output.first_row.nope}}", SCOPE, "no column 'nope'"),
    ("{{task.notebook_path}}", make_scope(task_notebook_path=None), "not a notebook task"),
    ("{{job.trigger.file_arrival.location}}", make_scope(trigger_info={}), "not triggered by a file arrival"),
    ("{{job.trigger.table_update.updated_tables}}", make_scope(trigger_info={}), "not triggered by a table update"),
    ("{{job.trigger.table_update.c.s.other.version}}", SCOPE, "'c.s.other' is not among the updated tables"),
    ("{{workspace.url}}", make_scope(workspace_url=None), "no workspace url"),
    ("{{input.region}}", make_scope(input_value={"n": 1}, has_input=True), "no element 'region'"),
    ("{{input.0}}", make_scope(input_value="text", has_input=True), "no element '0'"),
])
def test_unavailable_values_raise(text: str, scope: ReferenceScope, fragment: str) -> None:
    with pytest.raises(UnresolvedReference, match=fragment) as info:
        resolve(text, scope)
    assert info.value.reference == text


def test_input_outside_for_each_raises() -> None:
    with pytest.raises(InvalidReference, match="for_each"):
        resolve("{{input}}", SCOPE)


def test_resolve_deep_resolves_nested_strings_only() -> None:
    settings = {
        "notebook_path": "/nb/{{job.parameters.env}}",
        "base_parameters": {"{{job.id}}": "{{task.name}}", "n": 3, "flag": True, "none": None},
        "parameters": ["--run={{job.run_id}}", ["{{job.name}}"], ("{{job.id}}",)],
    }
    assert resolve_deep(settings, SCOPE) == {
        "notebook_path": "/nb/dev",
        "base_parameters": {"{{job.id}}": "report", "n": 3, "flag": True, "none": None},
        "parameters": ["--run=500", ["daily sales"], ("11",)],
    }
    assert settings["notebook_path"] == "/nb/{{job.parameters.env}}"


def test_scope_resolve_shorthand() -> None:
    assert SCOPE.resolve("{{job.id}}") == "11"


# --- check() -----------------------------------------------------------------

def _check(text: str, *, in_for_each: bool = False, upstream_of: set[str] | None = None) -> list[str]:
    return check(text, task_keys={"ingest", "query", "later"}, job_parameter_names={"env", "p$@"},
                 in_for_each=in_for_each, upstream_of=upstream_of)


def test_check_accepts_valid_references() -> None:
    text = ("{{job.id}} {{job.parameters.env}} {{job.parameters.`p$@`}} {{tasks.ingest.values.x}} "
            "{{tasks.query.output.first_row.c}} {{job.start_time.iso_date}} {{foo.bar}} {{workspace.url}} "
            "{{job.trigger.table_update.c.s.t.version}} {{run_id}}")
    assert _check(text, upstream_of={"ingest", "query"}) == []
    assert _check("{{input}} {{input.k}}", in_for_each=True) == []


def test_check_reports_undeclared_job_parameter() -> None:
    assert _check("{{job.parameters.envv}}") == ["{{job.parameters.envv}}: the job declares no parameter 'envv'"]


def test_check_reports_unknown_task() -> None:
    assert _check("{{tasks.ingets.values.x}}") == ["{{tasks.ingets.values.x}}: the job has no task 'ingets'"]


def test_check_reports_task_not_upstream() -> None:
    problems = _check("{{tasks.later.result_state}} {{tasks.ingest.run_id}}", upstream_of={"ingest"})
    assert problems == ["{{tasks.later.result_state}}: task 'later' is not upstream of this task "
                        "(add a depends_on path to it)"]
    assert _check("{{tasks.later.result_state}}", upstream_of=None) == []


def test_check_reports_input_outside_for_each() -> None:
    assert _check("{{input.k}}") == ["{{input.k}}: {{input}} is only available inside a for_each_task"]


def test_check_reports_every_problem_in_order() -> None:
    problems = _check("{{job.naem}} ok {{tasks.nope.values.v}} {{job.parameters.zz}}")
    assert [p.split(":")[0] for p in problems] == [
        "{{job.naem}}", "{{tasks.nope.values.v}}", "{{job.parameters.zz}}"]
