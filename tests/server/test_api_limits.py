"""Databricks' request limits and the smaller API defects of issue #10, against a live server."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from dashboard_env import signed_in, wait_run
from serving import LiveServer, make_workspace

OK_TASK = {"task_key": "t", "python_task": {"function": "sv_tasks:ok"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = make_workspace(tmp_path_factory.mktemp("limits") / "ws")
    srv = LiveServer(root, scheduler=False)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return server.token("alice")


def call(srv: LiveServer, token: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    url = f"{srv.url}/api/2.2/jobs/{path}"
    if body is None and "content" not in kw:
        return httpx.get(url, headers=headers, timeout=60)
    return httpx.post(url, json=body, headers=headers, timeout=60, **kw)


def _invalid(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    for w in words:
        assert w in r.json()["message"]


def test_job_settings_limits(server: LiveServer, token: str) -> None:
    huge = {"name": "big", "description": "x" * (11 * 1024 * 1024), "tasks": [OK_TASK]}
    _invalid(call(server, token, "create", huge), "exceeds the limit")
    _invalid(call(server, token, "create", {**huge, "description": "x" * 27_701}), "27700")
    _invalid(call(server, token, "create", {"name": "n" * 4097, "tasks": [OK_TASK]}), "4096")
    many = [{"task_key": f"t{i}", "python_task": {"function": "sv_tasks:ok"}} for i in range(1001)]
    _invalid(call(server, token, "create", {"name": "many", "tasks": many}), "up to 1000 tasks")
    assert server.store.list_jobs() == []  # nothing half-written


def test_run_parameters_limit_and_task_pages(server: LiveServer, token: str) -> None:
    tasks = [{"task_key": f"t{i:03}", "python_task": {"function": "sv_tasks:ok"}} for i in range(250)]
    job_id = call(server, token, "create", {"name": "wide", "tasks": tasks}).json()["job_id"]
    _invalid(call(server, token, "run-now", {"job_id": job_id, "job_parameters": {"p": "v" * 10_001}}), "10,000")
    seen: list[str] = []
    page_token = None
    for _ in range(5):
        query = f"get?job_id={job_id}" + (f"&page_token={page_token}" if page_token else "")
        page = call(server, token, query).json()
        assert len(page["settings"]["tasks"]) <= 100
        seen += [t["task_key"] for t in page["settings"]["tasks"]]
        page_token = page.get("next_page_token")
        if not page_token:
            break
    assert seen == [t["task_key"] for t in tasks]


def test_out_of_range_ids_and_negative_offsets_are_invalid(server: LiveServer, token: str) -> None:
    big = 99999999999999999999999
    _invalid(call(server, token, f"runs/get?run_id={big}"))
    _invalid(call(server, token, f"runs/get-output?run_id={big}"))
    _invalid(call(server, token, f"get?job_id={big}"))
    _invalid(call(server, token, "runs/cancel", {"run_id": big}))
    _invalid(call(server, token, "runs/list?offset=-1"), "offset")
    _invalid(call(server, token, "list?offset=-1"), "offset")


def test_json_body_without_a_json_content_type(server: LiveServer, token: str) -> None:
    body = json.dumps({"name": "curl-d", "tasks": [OK_TASK]})
    for content_type in ("application/x-www-form-urlencoded", None):  # curl -d, and no header at all
        headers = {"Content-Type": content_type} if content_type else {}
        r = call(server, token, "create", content=body.encode(), headers=headers)
        assert r.status_code == 200, r.text
        assert call(server, token, f"get?job_id={r.json()['job_id']}").json()["settings"]["name"] == "curl-d"


def test_failed_shell_task_keeps_its_logs_and_the_original_entry_has_a_state(server: LiveServer, token: str,
                                                                             tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    command = f"echo preparing; test -e {flag} || {{ echo broken input; exit 3; }}"
    job_id = call(server, token, "create", {"name": "sh", "tasks": [
        {"task_key": "sh", "shell_task": {"command": command}}]}).json()["job_id"]
    run_id = call(server, token, "run-now", {"job_id": job_id}).json()["run_id"]
    wait_run(server, run_id)
    run = call(server, token, f"runs/get?run_id={run_id}").json()
    out = call(server, token, f"runs/get-output?run_id={run['tasks'][0]['run_id']}").json()
    assert "broken input" in out["logs"] and "exit" in out["error"] and out["exit_code"] == 3
    flag.write_text("")
    call(server, token, "runs/repair", {"run_id": run_id, "rerun_all_failed_tasks": True})
    wait_run(server, run_id)
    history = call(server, token, f"runs/get?run_id={run_id}&include_history=true").json()["repair_history"]
    original = history[0]
    assert original["type"] == "ORIGINAL"
    assert original["state"]["result_state"] == "FAILED" and original["state"]["life_cycle_state"] == "TERMINATED"
    assert original["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"


def test_dashboard_shows_a_bad_address_as_a_page(server: LiveServer) -> None:
    client = signed_in(server, server.token("dash"))
    r = client.get("/runs/not-a-number")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "error_code" not in r.text and "run_id" in r.text
