"""Built-in plugin: every run's start and end are ``system.access.audit`` events, whoever or
whatever started it (the CLI, ``serve``, a schedule, a file-arrival or table trigger).

API calls, CLI commands and dashboard actions are audited where they are taken
(``server/audit_log.py``, ``catalog.audit.cli_event``); a run a trigger starts has no such caller,
so, as Databricks' ``jobs`` service does, the run itself is audited: ``runStart`` when it starts,
``runSucceeded`` or ``runFailed`` when it ends, as the principal the run executes as.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeloom.catalog.audit import write_audit_event
from lakeloom.hookspecs import hookimpl

if TYPE_CHECKING:
    from lakeloom.plugin_api import RunView
    from lakeloom.spec.models import Job

#: Result states that end a run successfully (Databricks logs the rest as ``runFailed``).
_SUCCEEDED = {"SUCCESS", "SUCCESS_WITH_FAILURES"}


def _params(run: dict[str, Any], handle: RunView) -> dict[str, str]:
    params = {"job_id": str(handle.job_id), "run_id": str(handle.run_id),
              "job_trigger_type": str(handle.trigger_type or run.get("trigger") or "ONE_TIME")}
    if run.get("run_name"):
        params["run_name"] = str(run["run_name"])
    return params


@hookimpl
def lakeloom_before_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    """``runStart``: the run is recorded RUNNING."""
    write_audit_event(handle.workspace, service_name="jobs", action_name="runStart", user=handle.principal,
                      request_params=_params(run, handle), user_agent="lakeloom-engine")


@hookimpl
def lakeloom_after_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    """``runSucceeded`` or ``runFailed`` with the run's final state (also for runs that never started)."""
    state = run.get("state") or {}
    result = str(state.get("result_state") or state.get("life_cycle_state") or "")
    succeeded = result in _SUCCEEDED
    params = {**_params(run, handle), "job_terminal_state": result}
    write_audit_event(handle.workspace, service_name="jobs", action_name="runSucceeded" if succeeded else "runFailed",
                      user=handle.principal, request_params=params, user_agent="lakeloom-engine",
                      status_code=200, error_message=None if succeeded else str(state.get("state_message") or result))
