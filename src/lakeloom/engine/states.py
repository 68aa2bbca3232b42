"""Databricks run semantics: run_if evaluation, the run's result, termination details."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from lakeloom.spec.models import RunIf

SUCCESS = "SUCCESS"
FAILED = "FAILED"
TIMEDOUT = "TIMEDOUT"
CANCELED = "CANCELED"
EXCLUDED = "EXCLUDED"
UPSTREAM_FAILED = "UPSTREAM_FAILED"
UPSTREAM_CANCELED = "UPSTREAM_CANCELED"
DISABLED = "DISABLED"
SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"

#: Results a dependency can end in, grouped the way run_if sees them.
SUCCEEDED_STATES = frozenset({SUCCESS, DISABLED})
SKIPPED_OK_STATES = frozenset({EXCLUDED})
FAILED_STATES = frozenset({FAILED, TIMEDOUT, UPSTREAM_FAILED})
CANCELED_STATES = frozenset({CANCELED, UPSTREAM_CANCELED})
#: Results that never ran the task's code.
SKIPPED_STATES = frozenset({EXCLUDED, UPSTREAM_FAILED, UPSTREAM_CANCELED, DISABLED})


@dataclass(frozen=True)
class Edge:
    """How one dependency ended, as seen from the dependent task."""

    result_state: str
    outcome_required: str | None = None
    condition_outcome: str | None = None

    @property
    def kind(self) -> str:
        """One of success, excluded, failed, canceled."""
        if self.result_state in FAILED_STATES:
            return "failed"
        if self.result_state in CANCELED_STATES:
            return "canceled"
        if self.result_state in SKIPPED_OK_STATES:
            return "excluded"
        # A condition branch not taken excludes the tasks on it.
        if self.outcome_required is not None and self.condition_outcome != self.outcome_required:
            return "excluded"
        return "success"


def evaluate_run_if(run_if: RunIf, edges: Iterable[Edge]) -> str | None:
    """None when the task should run, else the result state it gets without running.

    Rules (Databricks): a task whose dependencies are all excluded is excluded; EXCLUDED
    counts as skipped-successful; an unmet ALL_SUCCESS / AT_LEAST_ONE_SUCCESS /
    NONE_FAILED gives UPSTREAM_FAILED (UPSTREAM_CANCELED when the cause is a
    cancellation); an unmet AT_LEAST_ONE_FAILED / ALL_FAILED gives EXCLUDED.
    """
    kinds = [e.kind for e in edges]
    if not kinds:
        return None
    if all(k == "excluded" for k in kinds):
        return EXCLUDED
    n_fail = kinds.count("failed")
    n_cancel = kinds.count("canceled")
    n_ok = kinds.count("success") + kinds.count("excluded")
    upstream_bad = UPSTREAM_FAILED if n_fail else UPSTREAM_CANCELED
    if run_if == RunIf.ALL_SUCCESS:
        return None if n_fail == 0 and n_cancel == 0 else upstream_bad
    if run_if == RunIf.AT_LEAST_ONE_SUCCESS:
        return None if n_ok > 0 else upstream_bad
    if run_if == RunIf.NONE_FAILED:
        return None if n_fail == 0 and n_cancel == 0 and kinds.count("success") > 0 else (
            upstream_bad if (n_fail or n_cancel) else EXCLUDED)
    if run_if == RunIf.ALL_DONE:
        return None
    if run_if == RunIf.AT_LEAST_ONE_FAILED:
        return None if n_fail + n_cancel > 0 else EXCLUDED
    if run_if == RunIf.ALL_FAILED:
        return None if n_fail + n_cancel == len(kinds) else EXCLUDED
    raise ValueError(f"unknown run_if {run_if!r}")


def run_result(task_results: dict[str, str], leaves: Iterable[str], *, cancelled: bool = False,
               timed_out: bool = False) -> str:
    """The run's result state from its tasks' final results and its leaf tasks."""
    if timed_out:
        return TIMEDOUT
    if cancelled:
        return CANCELED
    leaf_states = [task_results[k] for k in leaves if k in task_results]
    if any(s in FAILED_STATES for s in leaf_states):
        return FAILED
    if any(s in CANCELED_STATES for s in leaf_states):
        return CANCELED
    if any(s in FAILED_STATES | CANCELED_STATES for s in task_results.values()):
        return SUCCESS_WITH_FAILURES
    return SUCCESS


def termination(result_state: str, message: str = "") -> dict[str, str]:
    """``status.termination_details`` for a finished run or task."""
    code, type_ = {
        SUCCESS: ("SUCCESS", "SUCCESS"),
        SUCCESS_WITH_FAILURES: ("SUCCESS_WITH_FAILURES", "SUCCESS"),
        FAILED: ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        TIMEDOUT: ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        CANCELED: ("USER_CANCELED", "SUCCESS"),
        EXCLUDED: ("SKIPPED", "SUCCESS"),
        UPSTREAM_FAILED: ("SKIPPED", "CLIENT_ERROR"),
        UPSTREAM_CANCELED: ("SKIPPED", "SUCCESS"),
        DISABLED: ("DISABLED", "SUCCESS"),
        "MAXIMUM_CONCURRENT_RUNS_REACHED": ("MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR"),
    }.get(result_state, ("INTERNAL_ERROR", "INTERNAL_ERROR"))
    return {"code": code, "type": type_, "message": message}
