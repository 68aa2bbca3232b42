"""Audit of serve: API token use and job actions, from the real databricks-sdk against a live
server, land as system.access.audit events (read here without a JVM; the Spark side is in
tests/catalog/test_lineage.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service import jobs

from lakeloom.catalog.audit import read_audit_events
from lakeloom.server.audit_log import classify
from serving import LiveServer, make_workspace


def test_classify_names_actions_as_databricks_does() -> None:
    assert classify("POST", "/api/2.2/jobs/run-now") == ("jobs", "runNow", {})
    assert classify("POST", "/api/2.1/jobs/runs/repair") == ("jobs", "repairRun", {})
    assert classify("PATCH", "/api/2.1/unity-catalog/permissions/table/main.s.t") == (
        "unityCatalog", "updatePermissions", {"securable_type": "table", "full_name": "main.s.t"})
    assert classify("POST", "/runs/12/cancel") == ("jobs", "cancel", {"run_id": "12"})
    assert classify("GET", "/runs/12") is None


def test_token_use_and_job_actions_are_audited(tmp_path: Path) -> None:
    srv = LiveServer(make_workspace(tmp_path / "ws"), scheduler=False)
    try:
        alice = WorkspaceClient(host=srv.url, token=srv.token("alice"), auth_type="pat")
        bob = WorkspaceClient(host=srv.url, token=srv.token("bob"), auth_type="pat")
        job = alice.jobs.create(name="audited", tasks=[jobs.Task(
            task_key="c", condition_task=jobs.ConditionTask(op=jobs.ConditionTaskOp.EQUAL_TO, left="1", right="1"))])
        run = alice.jobs.run_now(job.job_id).result()
        with pytest.raises(PermissionDenied):
            bob.jobs.run_now(job.job_id)
        alice.jobs.delete(job.job_id)
    finally:
        srv.close()
    events = read_audit_events(srv.service.engine.workspace)
    actions = [(e["user_identity"]["email"], e["action_name"], e["response"]["status_code"]) for e in events
               if e["action_name"] in ("create", "runNow", "delete")]
    assert actions == [("alice", "create", 200), ("alice", "runNow", 200), ("bob", "runNow", 403),
                       ("alice", "delete", 200)]
    run_now = next(e for e in events if e["action_name"] == "runNow")
    assert run_now["request_params"] == {"job_id": str(job.job_id)}
    assert run_now["response"]["result"] == f'{{"run_id": {run.run_id}}}'
    assert run_now["service_name"] == "jobs" and run_now["source_ip_address"] == "127.0.0.1"
    assert "databricks-sdk" in run_now["user_agent"]
    denied = next(e for e in events if e["user_identity"]["email"] == "bob")
    assert denied["response"]["error_message"].startswith("PERMISSION_DENIED: bob does not have CAN_MANAGE_RUN")
    assert any(e["action_name"] == "getRun" for e in events)  # every API call is a token use
