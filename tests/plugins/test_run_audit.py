"""Runs audit their own start and end (runStart, runSucceeded / runFailed), as the principal they
execute as, whatever started them: real runs through the engine, read back as audit events."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import ll_tasks  # noqa: E402
from harness import Harness, task  # noqa: E402
from lakeloom.catalog.audit import read_audit_events  # noqa: E402


def test_run_start_and_end_are_audited_as_the_runs_principal(tmp_path: Path) -> None:
    ll_tasks.reset()
    h = Harness(tmp_path)
    try:
        good = h.run([task("a")], run_as={"user_name": "svc-etl"})
        bad = h.run([task("b", "fail")], name="failing")
    finally:
        h.close()
    events = [e for e in read_audit_events(h.workspace) if e["service_name"] == "jobs"]
    by_run = {}
    for e in events:
        by_run.setdefault(e["request_params"]["run_id"], []).append(e)
    started, ended = by_run[str(good["run_id"])]
    assert (started["action_name"], ended["action_name"]) == ("runStart", "runSucceeded")
    assert started["user_identity"]["email"] == ended["user_identity"]["email"] == "svc-etl"
    assert started["request_params"]["job_id"] == str(good["job_id"])
    assert started["request_params"]["job_trigger_type"] == "ONE_TIME"
    assert ended["request_params"]["job_terminal_state"] == "SUCCESS"
    failed = by_run[str(bad["run_id"])][-1]
    assert failed["action_name"] == "runFailed" and failed["request_params"]["job_terminal_state"] == "FAILED"
    assert failed["response"]["error_message"]
