"""run_if, DISABLED and the run's result, through real runs (Databricks semantics)."""
from __future__ import annotations

import pytest

from harness import Harness, attempts, cond, results, task

RUN_IFS = ["ALL_SUCCESS", "AT_LEAST_ONE_SUCCESS", "NONE_FAILED", "ALL_DONE", "AT_LEAST_ONE_FAILED", "ALL_FAILED"]
RAN = "SUCCESS"  # the downstream task ran (it always succeeds when it runs)

# Expected result of a task depending on ONE upstream that ended as the column says.
MATRIX = {
    #                        success   failed             excluded    cancelled
    "ALL_SUCCESS":          (RAN, "UPSTREAM_FAILED", "EXCLUDED", "UPSTREAM_CANCELED"),
    "AT_LEAST_ONE_SUCCESS": (RAN, "UPSTREAM_FAILED", "EXCLUDED", "UPSTREAM_CANCELED"),
    "NONE_FAILED":          (RAN, "UPSTREAM_FAILED", "EXCLUDED", "UPSTREAM_CANCELED"),
    "ALL_DONE":             (RAN, RAN, "EXCLUDED", RAN),
    "AT_LEAST_ONE_FAILED":  ("EXCLUDED", RAN, "EXCLUDED", RAN),
    "ALL_FAILED":           ("EXCLUDED", RAN, "EXCLUDED", RAN),
}
OUTCOMES = ["success", "failed", "excluded", "cancelled"]


def upstream(key: str, outcome: str) -> list[dict]:
    """Tasks that leave ``key`` with the given outcome."""
    if outcome == "success":
        return [task(key)]
    if outcome == "failed":
        return [task(key, "fail")]
    if outcome == "cancelled":
        return [task(key, "cancel_self")]
    # excluded: on the branch of a condition that is not taken
    return [cond(f"{key}_cond", "EQUAL_TO", "a", "b"), task(key, deps=[{"task_key": f"{key}_cond", "outcome": "true"}])]


UPSTREAM_STATE = {"success": "SUCCESS", "failed": "FAILED", "excluded": "EXCLUDED", "cancelled": "CANCELED"}


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("run_if", RUN_IFS)
def test_run_if_matrix_single_dependency(harness: Harness, run_if: str, outcome: str) -> None:
    run = harness.run([*upstream("up", outcome), task("t", deps=["up"], run_if=run_if)])
    res = results(run)
    assert res["up"] == UPSTREAM_STATE[outcome]
    expected = MATRIX[run_if][OUTCOMES.index(outcome)]
    assert res["t"] == expected
    ran = [t for t in attempts(run, "t") if t["state"]["life_cycle_state"] == "TERMINATED"]
    assert bool(ran) == (expected == RAN)
    if expected != RAN:
        assert attempts(run, "t")[0]["state"]["life_cycle_state"] == "SKIPPED"


@pytest.mark.parametrize(("outcomes", "run_if", "expected"), [
    # Excluded counts as skipped-but-successful.
    (("success", "excluded"), "ALL_SUCCESS", RAN),
    (("success", "excluded"), "NONE_FAILED", RAN),
    (("success", "excluded"), "AT_LEAST_ONE_FAILED", "EXCLUDED"),
    (("failed", "excluded"), "ALL_FAILED", "EXCLUDED"),
    (("failed", "excluded"), "AT_LEAST_ONE_SUCCESS", RAN),
    (("failed", "excluded"), "ALL_SUCCESS", "UPSTREAM_FAILED"),
    # Mixed success and failure.
    (("success", "failed"), "ALL_SUCCESS", "UPSTREAM_FAILED"),
    (("success", "failed"), "AT_LEAST_ONE_SUCCESS", RAN),
    (("success", "failed"), "NONE_FAILED", "UPSTREAM_FAILED"),
    (("success", "failed"), "ALL_DONE", RAN),
    (("success", "failed"), "AT_LEAST_ONE_FAILED", RAN),
    (("success", "failed"), "ALL_FAILED", "EXCLUDED"),
    (("failed", "failed"), "ALL_FAILED", RAN),
    (("failed", "failed"), "AT_LEAST_ONE_SUCCESS", "UPSTREAM_FAILED"),
    # Every dependency excluded: excluded, whatever run_if says.
    (("excluded", "excluded"), "ALL_DONE", "EXCLUDED"),
    (("excluded", "excluded"), "ALL_FAILED", "EXCLUDED"),
])
def test_run_if_two_dependencies(harness: Harness, outcomes: tuple[str, str], run_if: str, expected: str) -> None:
    tasks = [*upstream("u1", outcomes[0]), *upstream("u2", outcomes[1]),
             task("t", deps=["u1", "u2"], run_if=run_if)]
    assert results(harness.run(tasks))["t"] == expected


def test_exclusion_propagates_down_a_chain(harness: Harness) -> None:
    run = harness.run([*upstream("a", "excluded"), task("b", deps=["a"]), task("c", deps=["b"], run_if="ALL_DONE")])
    assert results(run) == {"a_cond": "SUCCESS", "a": "EXCLUDED", "b": "EXCLUDED", "c": "EXCLUDED"}
    # Excluded leaves are skipped-successful: the run succeeds.
    assert run["state"]["result_state"] == "SUCCESS"


def test_upstream_failed_propagates_transitively(harness: Harness) -> None:
    run = harness.run([task("a", "fail"), task("b", deps=["a"]), task("c", deps=["b"])])
    assert results(run) == {"a": "FAILED", "b": "UPSTREAM_FAILED", "c": "UPSTREAM_FAILED"}


def test_disabled_task_is_not_run_and_downstream_proceeds(harness: Harness) -> None:
    run = harness.run([task("a", params={"marker": "a"}, disabled=True),
                       task("b", deps=["a"], params={"marker": "b"})])
    res = results(run)
    assert res == {"a": "DISABLED", "b": "SUCCESS"}
    assert len(attempts(run, "b")) == 1
    import ll_tasks
    assert [c["marker"] for c in ll_tasks.state["calls"]] == ["b"]  # a's function never ran
    a = attempts(run, "a")[0]
    assert a["state"]["life_cycle_state"] == "SKIPPED"
    assert a["status"]["termination_details"]["code"] == "DISABLED"
    assert run["state"]["result_state"] == "SUCCESS"


@pytest.mark.parametrize(("tasks", "expected", "code"), [
    ([task("a"), task("b", deps=["a"]), task("c", deps=["a"])], "SUCCESS", "SUCCESS"),
    # A failure that a cleanup leaf recovers from: every leaf succeeded.
    ([task("a", "fail"), task("cleanup", deps=["a"], run_if="ALL_DONE")], "SUCCESS_WITH_FAILURES",
     "SUCCESS_WITH_FAILURES"),
    # A failing non-leaf whose only dependent is excluded (failure branch not needed).
    ([task("a", "fail"), task("leaf", deps=["a"], run_if="AT_LEAST_ONE_FAILED"), task("other")],
     "SUCCESS_WITH_FAILURES", "SUCCESS_WITH_FAILURES"),
    # A failed leaf fails the run, even if other leaves succeeded.
    ([task("a"), task("b", "fail", deps=["a"]), task("c", deps=["a"])], "FAILED", "RUN_EXECUTION_ERROR"),
    # An UPSTREAM_FAILED leaf fails the run too.
    ([task("a", "fail"), task("b", deps=["a"])], "FAILED", "RUN_EXECUTION_ERROR"),
])
def test_run_result_comes_from_leaves(harness: Harness, tasks: list[dict], expected: str, code: str) -> None:
    run = harness.run(tasks)
    assert run["state"]["result_state"] == expected
    assert run["state"]["life_cycle_state"] == "TERMINATED"
    assert run["status"]["state"] == "TERMINATED"
    assert run["status"]["termination_details"]["code"] == code


def test_failure_at_the_head_of_a_long_chain_skips_the_rest_without_recursion(harness: Harness) -> None:
    # 3,000 downstream skips used to recurse _finish -> _consider -> _skip once per task.
    tasks = [task("t0", "fail")] + [task(f"t{i}", deps=[f"t{i - 1}"]) for i in range(1, 3000)]
    run = harness.run(tasks)
    states = results(run)
    assert states["t0"] == "FAILED"
    assert {states[f"t{i}"] for i in range(1, 3000)} == {"UPSTREAM_FAILED"}
    assert run["state"]["result_state"] == "FAILED"
