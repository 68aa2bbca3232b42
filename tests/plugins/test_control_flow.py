"""condition_task, for_each_task and run_job_task through real runs."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import ll_tasks  # noqa: E402
from harness import Harness, attempts, cond, results, task  # noqa: E402
from lakeloom.store.run_shape import run_shape, task_output  # noqa: E402


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    ll_tasks.reset()
    h = Harness(tmp_path)
    yield h
    h.close()


# --- condition_task ------------------------------------------------------------------

CASES = [
    ("EQUAL_TO", "abc", "abc", "true"),
    ("EQUAL_TO", "12.0", "12", "false"),  # compared as strings
    ("NOT_EQUAL", "12.0", "12", "true"),
    ("NOT_EQUAL", "x", "x", "false"),
    ("GREATER_THAN", "12.5", "9", "true"),  # numeric, not lexicographic
    ("GREATER_THAN", "3", "3", "false"),
    ("GREATER_THAN_OR_EQUAL", "3", "3.0", "true"),
    ("GREATER_THAN_OR_EQUAL", "2", "10", "false"),
    ("LESS_THAN", "2", "10", "true"),
    ("LESS_THAN", "10", "10", "false"),
    ("LESS_THAN_OR_EQUAL", "-1", "-1", "true"),
    ("LESS_THAN_OR_EQUAL", "1e3", "999", "false"),
]


def test_every_condition_op(harness: Harness) -> None:
    tasks = [cond(f"c{i}", op, left, right) for i, (op, left, right, _) in enumerate(CASES)]
    run = harness.run(tasks)
    assert run["state"]["result_state"] == "SUCCESS"
    by_key = {t["task_key"]: t for t in run["tasks"]}
    for i, (op, left, right, expected) in enumerate(CASES):
        entry = by_key[f"c{i}"]
        assert entry["condition_task"]["outcome"] == expected, (op, left, right)
        assert entry["state"]["result_state"] == "SUCCESS"


def test_condition_outcome_gates_branches(harness: Harness) -> None:
    run = harness.run([
        task("produce", "set_values", params={"rows": 0, "ready": True}),
        cond("has_rows", "GREATER_THAN", "{{tasks.produce.values.rows}}", 0, depends_on=[{"task_key": "produce"}]),
        task("load", deps=[{"task_key": "has_rows", "outcome": "true"}]),
        task("alert", deps=[{"task_key": "has_rows", "outcome": "false"}]),
        cond("is_ready", "EQUAL_TO", "{{tasks.produce.values.ready}}", "true", depends_on=[{"task_key": "produce"}]),
        task("go", deps=[{"task_key": "is_ready", "outcome": "true"}]),
        task("after_load", deps=["load"]),
    ])
    res = results(run)
    assert res["load"] == "EXCLUDED" and res["after_load"] == "EXCLUDED"
    assert res["alert"] == "SUCCESS"
    assert res["go"] == "SUCCESS"  # a boolean task value renders as "true"
    assert run["state"]["result_state"] == "SUCCESS"


def test_numeric_condition_on_a_non_number_fails_and_is_not_retried(harness: Harness) -> None:
    run = harness.run([cond("c", "GREATER_THAN", "abc", "1", max_retries=3),
                       task("t", deps=[{"task_key": "c", "outcome": "true"}])])
    tries = attempts(run, "c")
    assert len(tries) == 1  # condition tasks do not support retries
    assert tries[0]["state"]["result_state"] == "FAILED"
    assert "GREATER_THAN compares numbers" in tries[0]["state"]["state_message"]
    assert results(run)["t"] == "UPSTREAM_FAILED"


# --- for_each_task -------------------------------------------------------------------------

def _for_each(key: str, inputs: Any, inner: dict[str, Any], concurrency: int | None = None, **fields: Any) -> dict:
    block: dict[str, Any] = {"inputs": inputs, "task": inner}
    if concurrency is not None:
        block["concurrency"] = concurrency
    return {"task_key": key, "for_each_task": block, **fields}


@pytest.mark.parametrize("concurrency", [1, 3])
def test_for_each_respects_concurrency(harness: Harness, concurrency: int) -> None:
    inner = task("each", "gate", params={"target": concurrency, "item": "{{input}}"})
    run = harness.run([_for_each("loop", list(range(7)), inner, concurrency=concurrency)])
    assert run["state"]["result_state"] == "SUCCESS"
    assert ll_tasks.state["max_seen"] == concurrency


def test_for_each_inputs_and_iterations_recorded(harness: Harness) -> None:
    inputs = [{"region": "emea", "n": 1}, {"region": "apac", "n": 2}]
    inner = task("each", "record_input", params={"value": "{{input.region}}", "extra": "{{input}}"})
    run = harness.run([_for_each("loop", inputs, inner, concurrency=2)])
    assert run["state"]["result_state"] == "SUCCESS"
    assert sorted(c[0] for c in ll_tasks.state["calls"]) == ["apac", "emea"]
    import json
    assert sorted(json.loads(c[1])["n"] for c in ll_tasks.state["calls"]) == [1, 2]
    loop = attempts(run, "loop")[0]
    out = task_output(harness.store, loop["run_id"])
    assert out is not None
    fe = out["for_each_task"]
    assert fe["stats"]["task_run_stats"]["total_iterations"] == 2
    assert fe["stats"]["task_run_stats"]["succeeded_iterations"] == 2
    assert [it["input"] for it in fe["iterations"]] == inputs
    nested = [t for t in run["tasks"] if "iteration" in t]
    assert sorted(t["iteration"] for t in nested) == [0, 1]
    assert {t["parent_run_id"] for t in nested} == {loop["run_id"]}
    assert {t["task_key"] for t in nested} == {"each"}
    rows = harness.task_rows(run["run_id"], "each", nested=True)
    assert sorted(r.iteration for r in rows) == [0, 1]


def test_for_each_inputs_from_a_task_value_reference(harness: Harness) -> None:
    run = harness.run([
        task("gen", "set_values", params={"items": ["x", "y", "z"]}),
        _for_each("loop", "{{tasks.gen.values.items}}", task("each", "record_input", params={"value": "{{input}}"}),
                  concurrency=2, depends_on=[{"task_key": "gen"}]),
    ])
    assert run["state"]["result_state"] == "SUCCESS"
    assert sorted(c[0] for c in ll_tasks.state["calls"]) == ["x", "y", "z"]


def test_for_each_fails_when_an_iteration_fails_after_its_retries(harness: Harness) -> None:
    inner = task("each", "record_input", params={"value": "{{input}}"}, max_retries=1)
    run = harness.run([_for_each("loop", ["a", "bad", "c"], inner, concurrency=1),
                       task("after", deps=["loop"])])
    res = results(run)
    assert res["loop"] == "FAILED" and res["after"] == "UPSTREAM_FAILED"
    nested = [t for t in run["tasks"] if "iteration" in t]
    bad = [t for t in nested if t["iteration"] == 1]
    assert [t["attempt_number"] for t in bad] == [0, 1]  # the iteration's own retries
    assert all(t["state"]["result_state"] == "FAILED" for t in bad)
    assert all(t["state"]["result_state"] == "SUCCESS" for t in nested if t["iteration"] != 1)
    loop = attempts(run, "loop")[0]
    assert "1 of 3 iteration(s) failed" in loop["state"]["state_message"]
    out = task_output(harness.store, loop["run_id"])
    assert out is not None
    assert out["for_each_task"]["stats"]["task_run_stats"]["failed_iterations"] == 1


# --- run_job_task ---------------------------------------------------------------------------

def test_run_job_task_links_child_and_parent(harness: Harness) -> None:
    harness.job([task("child_a", "echo", params={"who": "{{job.parameters.who}}"})], name="child-job",
                filename="jobs/child.yml", parameters=[{"name": "who", "default": "nobody"}])
    run = harness.run([{"task_key": "call", "run_job_task": {"job_name": "child-job",
                                                             "job_parameters": {"who": "{{job.name}}"}}}],
                      name="parent-job")
    assert run["state"]["result_state"] == "SUCCESS"
    call = attempts(run, "call")[0]
    child_id = call["run_job_output"]["run_id"]
    child = run_shape(harness.store, child_id)
    assert child is not None
    assert child["parent_run_id"] == run["run_id"]
    assert child["trigger"] == "RUN_JOB_TASK"
    assert child["run_name"] == "child-job"
    assert child["state"]["result_state"] == "SUCCESS"
    out = task_output(harness.store, attempts(child, "child_a")[0]["run_id"])
    assert out is not None and out["result"] == {"who": "parent-job"}
    assert harness.store.get_run(child_id).parent_task_run_id == call["run_id"]


def test_failed_child_run_fails_the_run_job_task(harness: Harness) -> None:
    harness.job([task("boom", "fail")], name="bad-child", filename="jobs/bad.yml")
    run = harness.run([{"task_key": "call", "run_job_task": {"job_name": "bad-child"}}])
    call = attempts(run, "call")[0]
    assert call["state"]["result_state"] == "FAILED"
    child = run_shape(harness.store, call["run_job_output"]["run_id"])
    assert child is not None and child["state"]["result_state"] == "FAILED"
    assert child["parent_run_id"] == run["run_id"]


def test_run_job_task_by_bundle_reference_to_a_job_of_the_same_file(harness: Harness) -> None:
    import yaml

    bundle = harness.root / "elsewhere" / "jobs.yml"  # not among the workspace's job files (bundle.yml would be a legacy bundle root)
    bundle.parent.mkdir()
    bundle.write_text(yaml.safe_dump({"resources": {"jobs": {
        "parent": {"name": "Parent job", "tasks": [{"task_key": "call", "run_job_task": {
            "job_id": "${resources.jobs.nightly_child.id}", "job_parameters": {"who": "bundle"}}}]},
        "nightly_child": {"name": "Child (display name)", "parameters": [{"name": "who", "default": "x"}],
                          "tasks": [task("c", "echo", params={"who": "{{job.parameters.who}}"})]},
    }}}))
    run = harness.engine.submit(str(bundle), job_key="parent")
    assert run["state"]["result_state"] == "SUCCESS"
    child = run_shape(harness.store, attempts(run, "call")[0]["run_job_output"]["run_id"])
    assert child is not None and child["run_name"] == "Child (display name)"
    out = task_output(harness.store, attempts(child, "c")[0]["run_id"])
    assert out is not None and out["result"] == {"who": "bundle"}


def test_run_job_task_job_id_must_be_an_id_or_a_bundle_reference() -> None:
    from pydantic import ValidationError

    from lakeloom.plugins.run_job_task import RunJobTask

    assert RunJobTask.model_validate({"job_id": "42"}).job_id == 42
    with pytest.raises(ValidationError, match=r"resources\.jobs\.<key>\.id"):
        RunJobTask.model_validate({"job_id": "${resources.pipelines.p.id}"})


def test_run_job_task_by_job_id(harness: Harness) -> None:
    first = harness.engine.submit(str(harness.job([task("x")], name="by-id")))
    run = harness.run([{"task_key": "call", "run_job_task": {"job_id": first["job_id"]}}])
    assert run["state"]["result_state"] == "SUCCESS"
    child = run_shape(harness.store, attempts(run, "call")[0]["run_job_output"]["run_id"])
    assert child is not None and child["job_id"] == first["job_id"] and child["parent_run_id"] == run["run_id"]


def test_run_job_task_pushes_the_parent_job_parameters_down(harness: Harness) -> None:
    """Databricks pushes job parameters down to key-value tasks, Run Job included: a leaf job
    that declares ``input`` gets the parent's value; undeclared ones are left out."""
    import yaml

    bundle = harness.root / "elsewhere" / "jobs.yml"
    bundle.parent.mkdir()
    leaf = {"parameters": [{"name": "input", "default": ""}],
            "tasks": [task("leaf", "echo", params={"got": "{{ job.parameters.[input] }}"})]}
    bundle.write_text(yaml.safe_dump({"resources": {"jobs": {
        "primary": {"name": "primary job",
                    "parameters": [{"name": "input", "default": "test_propagation"},
                                   {"name": "only_here", "default": "x"}],
                    "tasks": [{"task_key": "run_leaf1", "run_job_task": {"job_id": "${resources.jobs.leaf1.id}"}},
                              {"task_key": "run_quiet", "run_job_task": {"job_id": "${resources.jobs.quiet.id}"}}]},
        "leaf1": {"name": "leaf job 1", **leaf},
        "quiet": {"name": "no parameters", "tasks": [task("q", "echo")]},
    }}}))
    run = harness.engine.submit(str(bundle), job_key="primary", params={"input": "from_cli"})
    assert results(run) == {"run_leaf1": "SUCCESS", "run_quiet": "SUCCESS"}
    child = run_shape(harness.store, attempts(run, "run_leaf1")[0]["run_job_output"]["run_id"])
    assert child is not None
    assert child["job_parameters"] == [{"name": "input", "default": "", "value": "from_cli"}]
    out = task_output(harness.store, attempts(child, "leaf")[0]["run_id"])
    assert out is not None and out["result"] == {"got": "from_cli"}
