"""Job parameters, dynamic value references through real runs, and task values."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from harness import Harness, attempts, results, task
from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskOutput, TaskType
from lakeloom.spec.loader import JobSpecError
from lakeloom.spec.models import Strict
from lakeloom.store.run_shape import task_output


def _result(h: Harness, run: dict[str, Any], key: str) -> Any:
    out = task_output(h.store, attempts(run, key)[-1]["run_id"])
    assert out is not None
    return out.get("result")


# --- parameters ----------------------------------------------------------------------

PARAMS = [{"name": "run_date", "default": "2026-01-01"}, {"name": "region", "default": "emea"}]


def test_parameter_defaults_and_overrides(harness: Harness) -> None:
    tasks = [task("a", "echo", params={"d": "{{job.parameters.run_date}}", "r": "{{job.parameters.region}}"})]
    run = harness.run(tasks, parameters=PARAMS)
    assert _result(harness, run, "a") == {"d": "2026-01-01", "r": "emea"}
    assert {p["name"]: p["value"] for p in run["job_parameters"]} == {"run_date": "2026-01-01", "region": "emea"}
    run = harness.run(tasks, parameters=PARAMS, params={"run_date": "2026-01-31"})
    assert _result(harness, run, "a") == {"d": "2026-01-31", "r": "emea"}
    assert {p["name"]: (p["default"], p["value"]) for p in run["job_parameters"]}["run_date"] == \
        ("2026-01-01", "2026-01-31")


def test_unknown_parameter_is_an_error(harness: Harness) -> None:
    with pytest.raises(JobSpecError) as info:
        harness.run([task("a")], parameters=PARAMS, params={"regoin": "x"})
    assert "regoin" in str(info.value) and "run_date" in str(info.value)
    assert harness.store.count_runs() == 0  # nothing was recorded or run


class KeyValueTask(Strict):
    parameters: dict[str, Any] = {}


class KeyValuePlugin:
    """A key-value task kind (like notebook_task): job parameters are pushed down to it."""

    @hookimpl
    def lakeloom_task_types(self) -> list[TaskType]:
        def run(ctx: Any, settings: KeyValueTask) -> TaskOutput:
            return TaskOutput(output={"result": dict(ctx.parameters)})

        return [TaskType("kv_test_task", KeyValueTask, run, key_value_parameters=True,
                         parameters_field="parameters")]


def test_job_parameters_are_pushed_down_to_key_value_tasks(make_harness: Any) -> None:
    h = make_harness(extra_plugins=(KeyValuePlugin(),))
    tasks = [{"task_key": "kv", "kv_test_task": {"parameters": {"own": "{{job.parameters.region}}-x",
                                                                "region": "task-level"}}},
             task("py", "context_view", params={"own": 1})]
    run = h.run(tasks, parameters=PARAMS, params={"region": "apac"})
    # Pushed down; the job parameter wins over a task parameter of the same name.
    assert _result(h, run, "kv") == {"own": "apac-x", "region": "apac", "run_date": "2026-01-01"}
    # A python_task's parameters are its keyword arguments: no pushdown, but ctx.job_parameters.
    view = _result(h, run, "py")
    assert view["parameters"] == {"own": "1"} and view["kwargs"] == {"own": 1}
    assert view["job_parameters"] == {"run_date": "2026-01-01", "region": "apac"}


# --- dynamic value references ----------------------------------------------------------

TIME_ARGS = ["iso_date", "iso_datetime", "iso_weekday", "is_weekday", "year", "month", "day", "hour", "minute",
             "second", "timestamp_ms"]


def test_every_reference_kind_resolves_in_a_real_run(harness: Harness) -> None:
    refs = {
        "job_id": "{{job.id}}", "job_name": "{{job.name}}", "job_run_id": "{{job.run_id}}",
        "repair_count": "{{job.repair_count}}", "param": "{{job.parameters.run_date}}",
        "trigger": "{{job.trigger.type}}", "task_name": "{{task.name}}", "task_run_id": "{{task.run_id}}",
        "task_exec": "{{task.execution_count}}", "value": "{{tasks.up.values.n}}",
        "flag": "{{tasks.up.values.flag}}", "obj": "{{tasks.up.values.obj}}",
        "up_state": "{{tasks.up.result_state}}", "up_run_id": "{{tasks.up.run_id}}",
        "up_exec": "{{tasks.up.execution_count}}",
        "mixed": "date={{job.parameters.run_date}}/{{ task.name }}",
        "literal_unknown_namespace": "{{foo.bar}}", "literal_syntax": "{{ not a ref", "plain": "no refs",
        **{f"t_{a}": f"{{{{job.start_time.{a}}}}}" for a in TIME_ARGS},
    }
    run = harness.run([task("up", "flaky_setter", params={"succeed_at": 1, "n": 42, "flag": True,
                                                          "obj": {"k": [1, 2]}}, max_retries=1),
                       task("down", "echo", deps=["up"], params=refs)],
                      name="refs-job", parameters=PARAMS)
    assert run["state"]["result_state"] == "SUCCESS"
    got = _result(harness, run, "down")
    up_final = attempts(run, "up")[-1]
    down = attempts(run, "down")[0]
    assert got["job_id"] == str(run["job_id"])
    assert got["job_name"] == "refs-job"
    assert got["job_run_id"] == str(run["run_id"])
    assert got["repair_count"] == "0"
    assert got["param"] == "2026-01-01"
    assert got["trigger"] == "ONE_TIME"
    assert got["task_name"] == "down"
    assert got["task_run_id"] == str(down["run_id"])
    assert got["task_exec"] == "1"
    assert got["value"] == "42" and got["flag"] == "true" and json.loads(got["obj"]) == {"k": [1, 2]}
    assert got["up_state"] == "SUCCESS"
    assert got["up_run_id"] == str(up_final["run_id"])
    assert got["up_exec"] == "2"  # the retry counts
    assert got["mixed"] == "date=2026-01-01/down"
    assert got["literal_unknown_namespace"] == "{{foo.bar}}"
    assert got["literal_syntax"] == "{{ not a ref"
    assert got["plain"] == "no refs"
    start = datetime.fromtimestamp(run["start_time"] / 1000, tz=timezone.utc)
    assert got["t_iso_date"] == start.date().isoformat()
    parsed = datetime.fromisoformat(got["t_iso_datetime"].replace("Z", "+00:00"))
    assert abs((parsed - start).total_seconds()) < 0.001
    assert got["t_iso_weekday"] == str(start.isoweekday())
    assert got["t_is_weekday"] == ("true" if start.isoweekday() <= 5 else "false")
    for a in ("year", "month", "day", "hour", "minute", "second"):
        assert int(got[f"t_{a}"]) == getattr(start, a), a
    assert got["t_timestamp_ms"] == str(run["start_time"])


def test_task_execution_count_counts_retries(harness: Harness) -> None:
    run = harness.run([task("a", "fail_until_attempt", params={"succeed_at": "{{task.execution_count}}"},
                            max_retries=3)])
    # execution_count is attempt_number + 1, so every attempt fails: 4 attempts.
    assert [t["state"]["result_state"] for t in attempts(run, "a")] == ["FAILED"] * 4


def test_invalid_reference_is_rejected_before_running(harness: Harness) -> None:
    with pytest.raises(JobSpecError) as info:
        harness.run([task("a", "echo", params={"x": "{{job.naem}}"})])
    assert "job.naem" in str(info.value)
    assert harness.store.count_runs() == 0


def test_reference_to_a_value_never_set_fails_the_task(harness: Harness) -> None:
    run = harness.run([task("up"), task("down", "echo", deps=["up"], params={"x": "{{tasks.up.values.missing}}"})])
    assert results(run)["down"] == "FAILED"
    assert "tasks.up.values.missing" in attempts(run, "down")[0]["state"]["state_message"]


# --- task values ---------------------------------------------------------------------------

def test_task_values_set_get_and_persisted(harness: Harness) -> None:
    run = harness.run([
        task("producer", "set_values", params={"rows": 1200, "tables": ["a", "b"], "meta": {"ok": True}}),
        task("consumer", "get_value", deps=["producer"], params={"task_key": "producer", "key": "tables"}),
        task("defaulted", "get_value", deps=["producer"],
             params={"task_key": "producer", "key": "absent", "use_default": True}),
        task("missing", "get_value", deps=["producer"], params={"task_key": "producer", "key": "absent"}),
    ])
    assert _result(harness, run, "consumer") == {"value": ["a", "b"]}
    assert _result(harness, run, "defaulted") == {"value": "the-default"}
    assert results(run)["missing"] == "FAILED"
    assert attempts(run, "missing")[0]["state"]["state_message"].startswith("ValueError: no task value 'absent'")
    assert harness.store.task_values(run["run_id"]) == {
        "producer": {"rows": 1200, "tables": ["a", "b"], "meta": {"ok": True}}}


@pytest.mark.parametrize(("kind", "result", "message"), [
    ("exactly_limit", "SUCCESS", ""),
    ("too_big", "FAILED", "ValueError: task value 'v' is 49154 bytes; the limit is 48 KiB"),
    ("not_json", "FAILED", "TypeError: task value 'v' is not JSON-serializable"),
])
def test_task_value_limits(harness: Harness, kind: str, result: str, message: str) -> None:
    run = harness.run([task("a", "set_raw", params={"key": "v", "kind": kind})])
    entry = attempts(run, "a")[0]
    assert entry["state"]["result_state"] == result
    assert entry["state"]["state_message"].startswith(message)
    stored = harness.store.task_values(run["run_id"])
    assert ("v" in stored.get("a", {})) == (result == "SUCCESS")
