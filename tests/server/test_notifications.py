"""Notifications through real receivers on 127.0.0.1: SMTP (aiosmtpd), Slack and webhook HTTP
endpoints; retries with backoff, HMAC signatures, duration warnings, records in `runs show`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from lakeloom.cli.main import cli
from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugins.notify.notifications import flush_all
from lakeloom.plugins.notify.webhook_notifier import sign
from serving import HttpReceiver, SmtpReceiver, make_workspace, write_job


@pytest.fixture
def receivers() -> Iterator[tuple[SmtpReceiver, HttpReceiver, HttpReceiver]]:
    smtp, hook, slack = SmtpReceiver(), HttpReceiver(fail_first=2), HttpReceiver()
    yield smtp, hook, slack
    smtp.close()
    hook.close()
    slack.close()


def py(key: str, fn: str, **fields: Any) -> dict[str, Any]:
    params = fields.pop("params", {})
    return {"task_key": key, "python_task": {"function": f"sv_tasks:{fn}", "parameters": params}, **fields}


def test_failure_success_and_task_notifications(tmp_path: Path, receivers: Any, monkeypatch: Any) -> None:
    smtp, hook, slack = receivers
    monkeypatch.setenv("LAKELOOM_SECRET_HOOKS__AUDIT", "s3cret")
    root = make_workspace(tmp_path / "ws", {"notifications": {
        "email": {"host": "127.0.0.1", "port": smtp.port, "from": "lakeloom@test"},
        "destinations": {"audit": {"type": "webhook", "url": hook.url + "/hook", "secret": "{{secrets/hooks/audit}}"},
                         "team": {"type": "slack", "url": slack.url + "/slack"}},
        "retry": {"max_attempts": 4, "backoff_seconds": 0.05}}, "server": {"public_url": "http://lakeloom.test"}})
    job = write_job(root, "nightly", [
        py("load", "ok", email_notifications={"on_start": ["task-owner@x"]}),
        py("transform", "fail", params={"message": "bad row 42"}, depends_on=[{"task_key": "load"}], max_retries=1,
           notification_settings={"alert_on_last_attempt": True},
           email_notifications={"on_failure": ["task-owner@x"]}),
    ], email_notifications={"on_failure": ["oncall@x"], "on_success": ["happy@x"]},
        webhook_notifications={"on_failure": [{"id": "audit"}, {"id": "team"}, {"id": "nope"}]})
    engine = Engine.open(load_workspace(root))
    run = engine.submit(str(job))
    assert run["state"]["result_state"] == "FAILED"
    flush_all(20)
    run_id = run["run_id"]

    mails = {m["to"][0]: m["msg"] for m in smtp.messages}
    assert set(mails) == {"task-owner@x", "oncall@x"}  # no success mail; one task failure mail (last attempt)
    body = mails["oncall@x"].get_payload()
    assert mails["oncall@x"]["Subject"] == f"[lakeloom] Run {run_id} of job nightly failed (FAILED)"
    assert "Failing task transform (FAILED): RuntimeError: bad row 42" in body
    assert body.count("Failing task") == 1  # the last attempt only
    assert f"http://lakeloom.test/runs/{run_id}" in body
    task_mail = mails["task-owner@x"]
    assert "task transform" in task_mail["Subject"] or "task load" in task_mail["Subject"]
    assert sum(1 for m in smtp.messages if m["to"] == ["task-owner@x"]) == 2  # load start + transform last failure

    delivered = hook.ok()
    assert len(delivered) == 1 and len(hook.requests) == 3  # two 503s, then delivered
    payload = json.loads(delivered[0]["body"])
    assert payload["event_type"] == "jobs.on_failure" and payload["run_id"] == run_id
    assert payload["run_page_url"] == f"http://lakeloom.test/runs/{run_id}"
    assert payload["state"]["result_state"] == "FAILED"
    assert delivered[0]["headers"]["X-Lakeloom-Signature"] == sign("s3cret", delivered[0]["body"])
    text = json.loads(slack.ok()[0]["body"])["text"]
    assert "nightly" in text and "transform" in text and "bad row 42" in text and str(run_id) in text

    rows = engine.store.deliveries(run_id)
    audit = [(d["attempt"], d["status"], d["http_status"]) for d in rows if d["destination"] == "audit"]
    assert audit == [(1, "RETRYING", 503), (2, "RETRYING", 503), (3, "DELIVERED", 200)]
    nope = [d for d in rows if d["destination"] == "nope"]
    assert nope[0]["status"] == "FAILED" and "unknown notification destination" in nope[0]["error"]

    shown = CliRunner().invoke(cli, ["--workspace", str(root), "runs", "show", str(run_id)])
    assert shown.exit_code == 0, shown.output
    assert "Notifications" in shown.output and "RETRYING" in shown.output and "oncall@x" in shown.output


def test_duration_warning_and_failing_destination_never_delays_run(tmp_path: Path, receivers: Any) -> None:
    smtp, _, _ = receivers
    root = make_workspace(tmp_path / "ws", {"notifications": {
        "email": {"host": "127.0.0.1", "port": smtp.port},
        "destinations": {"down": {"type": "webhook", "url": "http://127.0.0.1:9/unreachable"}},
        "retry": {"max_attempts": 2, "backoff_seconds": 0.05}}})
    job = write_job(root, "slowpoke", [py("slow", "sleep", params={"seconds": 1.5})],
                    health={"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1}]},
                    email_notifications={"on_duration_warning_threshold_exceeded": ["sre@x"], "on_success": ["ok@x"]},
                    webhook_notifications={"on_start": [{"id": "down"}]})
    engine = Engine.open(load_workspace(root))
    run = engine.submit(str(job))
    assert run["state"]["result_state"] == "SUCCESS"
    flush_all(20)
    rows = engine.store.deliveries(run["run_id"])
    warn = [d for d in rows if d["event_type"] == "jobs.on_duration_warning_threshold_exceeded"]
    assert warn and warn[0]["status"] == "DELIVERED" and warn[0]["time"] < run["end_time"]  # sent while running
    assert [d["status"] for d in rows if d["destination"] == "down"] == ["RETRYING", "FAILED"]
    subjects = sorted(m["msg"]["Subject"] for m in smtp.messages)
    assert any("running longer than expected" in s for s in subjects) and any("succeeded" in s for s in subjects)
