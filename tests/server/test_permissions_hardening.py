"""Permissions without holes: run_job_task honours job permissions, and creating or
submitting code needs a workspace entitlement (live server, real HTTP, real runs)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from serving import LiveServer, make_workspace, wait_until

OK_TASK = {"task_key": "t", "python_task": {"function": "sv_tasks:ok"}}


def call(srv: LiveServer, token: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{srv.url}/api/2.2/jobs/{path}"
    return httpx.post(url, json=body, headers=headers) if body is not None else httpx.get(url, headers=headers)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def finished(srv: LiveServer, token: str, run_id: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = ok(call(srv, token, f"runs/get?run_id={run_id}"))
        return run if run["state"]["life_cycle_state"] in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED") else None
    return wait_until(done, timeout=120)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    root = make_workspace(tmp_path / "ws", {"server": {
        "groups": {"authors": ["alice", "mallory"]},
        "entitlements": {"jobs.create": ["authors"], "runs.submit": ["authors"]}}})
    srv = LiveServer(root, scheduler=False)
    yield srv
    srv.close()


def test_run_job_task_needs_can_manage_run_on_the_child_job(server: LiveServer) -> None:
    owner, mallory = server.token("alice"), server.token("mallory")
    private = ok(call(server, owner, "create", {"name": "payroll-export", "tasks": [OK_TASK]}))["job_id"]
    shared = ok(call(server, owner, "create", {"name": "shared", "tasks": [OK_TASK], "access_control_list": [
        {"user_name": "mallory", "permission_level": "CAN_MANAGE_RUN"}]}))["job_id"]
    denied = call(server, mallory, "run-now", {"job_id": private})
    assert denied.status_code == 403 and "payroll-export" not in denied.text  # no name of a job she cannot see

    def wrapper(child: int) -> dict[str, Any]:
        job_id = ok(call(server, mallory, "create", {"name": f"wrap-{child}", "tasks": [
            {"task_key": "child", "run_job_task": {"job_id": child}}]}))["job_id"]
        return finished(server, mallory, ok(call(server, mallory, "run-now", {"job_id": job_id}))["run_id"])

    blocked = wrapper(private)
    task = blocked["tasks"][0]
    assert task["state"]["result_state"] == "FAILED"
    assert "PERMISSION_DENIED" in task["state"]["state_message"] and "payroll-export" not in str(blocked)
    assert ok(call(server, owner, f"runs/list?job_id={private}")).get("runs", []) == []

    allowed = wrapper(shared)
    assert allowed["state"]["result_state"] == "SUCCESS"
    child_id = allowed["tasks"][0]["run_job_output"]["run_id"] if "run_job_output" in allowed["tasks"][0] else \
        ok(call(server, owner, f"runs/list?job_id={shared}"))["runs"][0]["run_id"]
    child = ok(call(server, owner, f"runs/get?run_id={child_id}"))
    assert child["run_as_user_name"] == "alice"  # the child job's owner, as run-now would
    assert child["creator_user_name"] == "mallory"  # who caused the run


def test_creating_or_submitting_code_needs_an_entitlement(server: LiveServer) -> None:
    alice, bob, admin = server.token("alice"), server.token("bob"), server.token("root", admin=True)
    for path, body in (("create", {"name": "x", "tasks": [OK_TASK]}),
                       ("runs/submit", {"run_name": "x", "tasks": [OK_TASK]})):
        r = call(server, bob, path, body)
        assert r.status_code == 403, r.text
        assert r.json()["error_code"] == "PERMISSION_DENIED"
        entitlement = "jobs.create" if path == "create" else "runs.submit"
        assert entitlement in r.json()["message"]
    job_id = ok(call(server, alice, "create", {"name": "alices", "tasks": [OK_TASK], "access_control_list": [
        {"user_name": "bob", "permission_level": "CAN_MANAGE"}]}))["job_id"]
    ok(call(server, admin, "create", {"name": "admins-job", "tasks": [OK_TASK]}))
    # Bob manages alice's job: he may rename it and run it, but not change the code it runs.
    ok(call(server, bob, "update", {"job_id": job_id, "new_settings": {"name": "renamed"}}))
    evil = {"task_key": "t", "python_task": {"function": "os:system", "parameters": {"command": "id"}}}
    r = call(server, bob, "update", {"job_id": job_id, "new_settings": {"tasks": [evil]}})
    assert r.status_code == 403 and "jobs.create" in r.json()["message"]
    r = call(server, bob, "reset", {"job_id": job_id, "new_settings": {"name": "renamed", "tasks": [evil]}})
    assert r.status_code == 403
    run = finished(server, bob, ok(call(server, bob, "run-now", {"job_id": job_id}))["run_id"])
    assert run["state"]["result_state"] == "SUCCESS"


def test_a_bad_entitlement_setting_is_named(tmp_path: Path) -> None:
    from lakeloom.spec.permissions import granted_entitlements

    with pytest.raises(ValueError, match=r"server\.entitlements\.jobs\.make: unknown entitlement"):
        granted_entitlements({"entitlements": {"jobs.make": ["x"]}})
    assert granted_entitlements({}) == {"jobs.create": frozenset(), "runs.submit": frozenset()}


def test_a_default_workspace_lets_only_admins_author_code(tmp_path: Path) -> None:
    # No server.entitlements at all (the reproduction): any token could submit os:system.
    root = make_workspace(tmp_path / "ws", {"server": {"groups": {"admins": ["ops"]}}}, authoring=False)
    srv = LiveServer(root, scheduler=False)
    try:
        bob, ops, root_token = srv.token("bob"), srv.token("ops"), srv.token("root", admin=True)
        evil = {"task_key": "t", "python_task": {"function": "os:system", "parameters": {"command": "id"}}}
        for path, body in (("runs/submit", {"run_name": "x", "tasks": [evil]}),
                           ("create", {"name": "x", "tasks": [evil]})):
            r = call(srv, bob, path, body)
            assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
        assert ok(call(srv, root_token, "runs/list")).get("runs", []) == []  # nothing was started
        assert ok(call(srv, root_token, "list")).get("jobs", []) == []
        # Admins author: an admin token, and a member of the admins group.
        ok(call(srv, ops, "create", {"name": "ops-job", "tasks": [OK_TASK]}))
        job_id = ok(call(srv, root_token, "create", {"name": "shared", "tasks": [OK_TASK], "access_control_list": [
            {"user_name": "bob", "permission_level": "CAN_MANAGE_RUN"}]}))["job_id"]
        run = finished(srv, bob, ok(call(srv, bob, "run-now", {"job_id": job_id}))["run_id"])
        assert run["state"]["result_state"] == "SUCCESS"  # bob may still run what he is permitted to
        submitted = ok(call(srv, root_token, "runs/submit", {"run_name": "adm", "tasks": [OK_TASK]}))["run_id"]
        assert finished(srv, root_token, submitted)["state"]["result_state"] == "SUCCESS"
    finally:
        srv.close()
