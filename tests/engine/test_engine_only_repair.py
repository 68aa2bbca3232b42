"""Partial runs (--only) and repair."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import Harness, assert_settled, attempts, results, task
from lakeloom.store.run_shape import task_output

CHAIN = [task("a"), task("b", deps=["a"]), task("c", deps=["b"]), task("d", deps=["c"]), task("x")]


@pytest.mark.parametrize(("only", "expected"), [
    (["b"], {"b"}),
    (["+c"], {"a", "b", "c"}),
    (["b+"], {"b", "c", "d"}),
    (["+b+"], {"a", "b", "c", "d"}),
    (["a", "x"], {"a", "x"}),
    ([" c ", "x+"], {"c", "x"}),
])
def test_only_selectors(harness: Harness, only: list[str], expected: set[str]) -> None:
    run = harness.run(CHAIN, only=only)
    assert set(results(run)) == expected
    assert all(v == "SUCCESS" for v in results(run).values())
    assert set(run["only"]) == expected


def test_only_unknown_task_is_an_error(harness: Harness) -> None:
    with pytest.raises(ValueError, match="unknown task 'zz'"):
        harness.run(CHAIN, only=["zz+"])


def _flag_job(h: Harness, flag: Path) -> list[dict[str, Any]]:
    return [
        task("a", "set_values", params={"token": "from-a"}),
        task("b", "wait_for_file", deps=["a"], params={"path": str(flag), "fail_if_missing": True}),
        task("c", "echo", deps=["b"], params={"token": "{{tasks.a.values.token}}",
                                              "repairs": "{{job.repair_count}}"}),
        task("side", "get_value", deps=["a"], params={"task_key": "a", "key": "token"}),
    ]


def test_repair_rerun_all_failed(harness: Harness, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    run = harness.run(_flag_job(harness, flag))
    assert results(run) == {"a": "SUCCESS", "b": "FAILED", "c": "UPSTREAM_FAILED", "side": "SUCCESS"}
    assert run["state"]["result_state"] == "FAILED"
    a_before = attempts(run, "a")
    flag.touch()
    repaired = harness.engine.repair(run["run_id"], rerun_all_failed=True)
    assert_settled(harness.store, run["run_id"])
    assert repaired["run_id"] == run["run_id"]
    assert repaired["state"]["result_state"] == "SUCCESS"
    assert results(repaired) == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS", "side": "SUCCESS"}
    # Earlier attempts are kept; a and side were not rerun.
    assert [t["state"]["result_state"] for t in attempts(repaired, "b")] == ["FAILED", "SUCCESS"]
    assert [t["attempt_number"] for t in attempts(repaired, "b")] == [0, 1]
    assert [t["state"]["result_state"] for t in attempts(repaired, "c")] == ["UPSTREAM_FAILED", "SUCCESS"]
    assert attempts(repaired, "a") == a_before
    assert len(attempts(repaired, "side")) == 1
    # The rerun task read the task value of a task that was not rerun, and saw the repair count.
    out = task_output(harness.store, attempts(repaired, "c")[-1]["run_id"])
    assert out is not None and out["result"] == {"token": "from-a", "repairs": "1"}
    history = repaired["repair_history"]
    assert [h["type"] for h in history] == ["ORIGINAL", "REPAIR"]
    assert history[1]["rerun_tasks"] == ["b", "c"]
    assert set(history[1]["task_run_ids"]) == {attempts(repaired, k)[-1]["run_id"] for k in ("b", "c")}
    assert set(history[0]["task_run_ids"]) == {t["run_id"] for t in run["tasks"]}
    assert history[1]["state"]["result_state"] == "SUCCESS"
    assert repaired["latest_repair_id"] == history[1]["id"]
    assert harness.store.get_run(run["run_id"]).repair_count == 1


def test_repair_rerun_tasks_with_and_without_dependents(harness: Harness, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    run = harness.run(_flag_job(harness, flag))
    assert run["state"]["result_state"] == "SUCCESS"
    once = harness.engine.repair(run["run_id"], rerun_tasks=["b"])
    assert [len(attempts(once, k)) for k in ("a", "b", "c", "side")] == [1, 2, 1, 1]
    twice = harness.engine.repair(run["run_id"], rerun_tasks=["a"], rerun_dependents=True)
    assert [len(attempts(twice, k)) for k in ("a", "b", "c", "side")] == [2, 3, 2, 2]
    assert [h["type"] for h in twice["repair_history"]] == ["ORIGINAL", "REPAIR", "REPAIR"]
    assert twice["repair_history"][2]["rerun_tasks"] == ["a", "b", "c", "side"]
    out = task_output(harness.store, attempts(twice, "c")[-1]["run_id"])
    assert out is not None and out["result"]["repairs"] == "2"
    assert twice["state"]["result_state"] == "SUCCESS"


def test_repair_reuses_values_but_a_rerun_task_replaces_its_own(harness: Harness) -> None:
    run = harness.run([task("a", "set_values", params={"v": "{{job.repair_count}}"}),
                       task("b", "get_value", deps=["a"], params={"task_key": "a", "key": "v"})])
    assert harness.store.task_values(run["run_id"]) == {"a": {"v": "0"}}
    repaired = harness.engine.repair(run["run_id"], rerun_tasks=["a", "b"])
    assert harness.store.task_values(run["run_id"]) == {"a": {"v": "1"}}
    out = task_output(harness.store, attempts(repaired, "b")[-1]["run_id"])
    assert out is not None and out["result"] == {"value": "1"}


def test_repair_errors(harness: Harness) -> None:
    run = harness.run([task("a")])
    with pytest.raises(ValueError, match="no failed tasks"):
        harness.engine.repair(run["run_id"], rerun_all_failed=True)
    with pytest.raises(ValueError, match="unknown task"):
        harness.engine.repair(run["run_id"], rerun_tasks=["nope"])
    with pytest.raises(ValueError):
        harness.engine.repair(run["run_id"])
    from lakeloom.spec.loader import JobSpecError
    with pytest.raises(JobSpecError):
        harness.engine.repair(424242, rerun_all_failed=True)


def test_repair_of_a_partial_run_stays_within_its_selection(harness: Harness) -> None:
    run = harness.run([task("a"), task("b", "fail", deps=["a"]), task("c", deps=["b"])], only=["b+"])
    assert set(results(run)) == {"b", "c"}
    repaired = harness.engine.repair(run["run_id"], rerun_all_failed=True)
    assert set(results(repaired)) == {"b", "c"}  # a is still not part of the run
    assert len(attempts(repaired, "b")) == 2
