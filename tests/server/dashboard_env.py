"""Shared set-up of the dashboard tests: a live server with jobs holding script-injection
payloads in every user-provided string, a signed-in HTTP client, and a run whose task
outputs (executed notebook, SQL result, pipeline update) are written as the engine would."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from serving import LiveServer, make_workspace, wait_until

from lakeloom.store.records import RunRecord

XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'
XSS_MARKERS = ("<script>window.__xss", "<img src=x", "<script>")


def api(srv: LiveServer, token: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{srv.url}/api/2.2/jobs/{path}"
    r = httpx.post(url, json=body, headers=headers) if body is not None else httpx.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def py(key: str, fn: str, deps: tuple[str, ...] = (), **params: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"task_key": key, "python_task": {"function": f"dash_tasks:{fn}", "parameters": params}}
    if deps:
        task["depends_on"] = [{"task_key": d} for d in deps]
    return task


def etl_job(flag: Path) -> dict[str, Any]:
    """Four tasks; ``check`` fails (with an injected message) until ``flag`` exists."""
    return {
        "name": f"etl {XSS}",
        "description": f"nightly {XSS}",
        "parameters": [{"name": "day", "default": f"mon{XSS}"}],
        "tasks": [
            {**py("extract", "chatty", message="{{job.parameters.day}}"), "description": f"reads {XSS}"},
            py("transform", "chatty", ("extract",), message=XSS, lines=50),
            py("check", "fail_unless", ("transform",), path=str(flag), message=f"bad data {XSS}"),
            {**py("report", "chatty", ("check",)), "run_if": "ALL_SUCCESS"},
        ],
    }


def start_server(root: Path) -> LiveServer:
    make_workspace(root)
    return LiveServer(root, scheduler=False)


def signed_in(srv: LiveServer, token: str) -> httpx.Client:
    """An HTTP client holding a dashboard session (signed in through the form)."""
    client = httpx.Client(base_url=srv.url, follow_redirects=False)
    page = client.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"token": token, "nonce": nonce, "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def wait_run(srv: LiveServer, run_id: int, timeout: float = 60) -> RunRecord:
    def done() -> RunRecord | None:
        row = srv.store.get_run(run_id)
        return row if row and row.life_cycle_state in ("TERMINATED", "SKIPPED", "INTERNAL_ERROR") else None

    return wait_until(done, timeout=timeout)  # type: ignore[no-any-return]


def output_run(srv: LiveServer, job_id: int) -> int:
    """A finished run of ``job_id`` with a notebook, a SQL and a pipeline task, their
    outputs recorded the way the task types record them (no Spark needed)."""
    store = srv.store
    settings = {"name": f"outputs {XSS}", "tasks": [
        {"task_key": "nb", "notebook_task": {"notebook_path": "nb.ipynb"}},
        {"task_key": "query", "sql_task": {"file": {"path": "q.sql"}}, "depends_on": [{"task_key": "nb"}]},
        {"task_key": "pipe", "pipeline_task": {"pipeline": "p"}, "depends_on": [{"task_key": "nb"}]},
    ]}
    run_id = store.create_run(job_id=job_id, run_name=settings["name"], settings=settings, job_parameters={},
                              life_cycle_state="RUNNING")
    logs = srv.service.engine.workspace.logs_dir
    nb_path = logs / str(run_id) / "nb" / "0.ipynb"
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    nb_path.write_text(json.dumps(notebook_doc()))
    nb = store.start_task_run(run_id, "nb", attempt_number=0, execution_count=1, repair_id=None)
    store.update_task_run(nb, life_cycle_state="TERMINATED", result_state="SUCCESS", end_time=store.get_run(
        run_id).start_time + 1500, output_json=json.dumps(
        {"notebook_output": {"result": f"exit {XSS}", "truncated": False}, "executed_notebook": str(nb_path)}))
    q = store.start_task_run(run_id, "query", attempt_number=0, execution_count=1, repair_id=None)
    store.update_task_run(q, life_cycle_state="TERMINATED", result_state="SUCCESS", end_time=None, output_json=json.dumps(
        {"sql_output": {"schema": [{"name": "city", "type": "string"}, {"name": "n", "type": "bigint"}],
                        "rows": [{"city": XSS, "n": 3}, {"city": "Oslo", "n": 7}], "first_row": None,
                        "truncated": False, "row_count": 2, "alert_state": None}}))
    p = store.start_task_run(run_id, "pipe", attempt_number=0, execution_count=1, repair_id=None)
    store.update_task_run(p, life_cycle_state="TERMINATED", result_state="FAILED", state_message=f"update failed {XSS}",
                          error_trace=f"Traceback:\n  RuntimeError: {XSS}", output_json=json.dumps(
        {"pipeline_output": {"pipeline": "sales", "update_id": "u1", "state": "FAILED", "error": XSS,
                             "duration_seconds": 2.5, "order": ["raw", "clean"], "datasets": {
                                 "raw": {"kind": "streaming_table", "status": "COMPLETED", "rows_written": 10,
                                         "inputs": [], "error": None, "schema": None, "expectations": []},
                                 "clean": {"kind": "materialized_view", "status": "FAILED", "rows_written": 0,
                                           "inputs": ["raw"], "error": XSS, "schema": None, "expectations": [
                                               {"flow": "clean", "name": "valid_id", "action": "DROP",
                                                "passed_records": 8, "failed_records": 2}]}}}}))
    for trid in (q, p):
        store.update_task_run(trid, end_time=store.get_run(run_id).start_time + 2500)
    store.update_run(run_id, life_cycle_state="TERMINATED", result_state="FAILED",
                     end_time=store.get_run(run_id).start_time + 3000, state_message=f"1 task failed {XSS}")
    return run_id


def notebook_doc() -> dict[str, Any]:
    """An executed notebook whose markdown, stream, HTML and error outputs carry payloads."""
    def code(i: int, src: str, outputs: list[dict[str, Any]], status: str = "ok") -> dict[str, Any]:
        return {"cell_type": "code", "id": f"c{i}", "execution_count": i, "source": src, "outputs": outputs,
                "metadata": {"lakeloom": {"cell": i, "line": i, "status": status, "duration_ms": 12.5}}}

    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"lakeloom": {"notebook_path": f"nb{XSS}.ipynb"}},
            "cells": [
                {"cell_type": "markdown", "id": "m0", "metadata": {},
                 "source": f"# Sales report\nSome **bold** text {XSS} <b onclick=alert(1)>x</b> [a](javascript:alert(1))"},
                code(1, f"print('{XSS}')", [{"output_type": "stream", "name": "stdout", "text": f"printed {XSS}\n"}]),
                code(2, "display(df)", [{"output_type": "display_data", "metadata": {}, "data": {
                    "text/html": f"<table><tr><th>city</th></tr><tr><td>{XSS}</td></tr></table>"
                                 f"<script>window.__xss=3</script><a href=\"javascript:alert(1)\">link</a>",
                    "text/plain": "table"}}]),
                code(3, "plot()", [{"output_type": "display_data", "metadata": {}, "data": {"image/png": png}}]),
                code(4, "raise", [{"output_type": "error", "ename": "ValueError", "evalue": XSS,
                                   "traceback": ["\x1b[31mValueError\x1b[0m", f"ValueError: {XSS}"]}], "error"),
            ]}
