"""More notification paths through real receivers on 127.0.0.1: SQL alerts (sql_task
``alert`` subscriptions), task-level duration warnings while the task is still running,
and the delivery records ``lakeloom runs show`` prints for them. Also continuous jobs
with ``task_retry_mode: ON_FAILURE`` (failed runs repaired in place) on the injectable clock."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest
from click.testing import CliRunner

from lakeloom.cli.main import cli
from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_api import ALERT_TRIGGERED, ON_DURATION_WARNING
from lakeloom.plugins.notify.notifications import flush_all
from serving import HttpReceiver, SmtpReceiver, make_workspace, wait_until, write_job

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SharedSpark:
    """A Spark provider over the test session's one SparkSession (never stopped here)."""

    def __init__(self, spark: SparkSession) -> None:
        self.session = spark

    @property
    def started(self) -> bool:
        return True

    def get(self) -> SparkSession:
        return self.session

    def stop(self) -> None:
        """The session belongs to the ``spark`` fixture; leave it running."""


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def notify_conf(smtp: SmtpReceiver, hook: HttpReceiver) -> dict[str, Any]:
    """Workspace settings: SMTP on the receiver, a webhook destination ``audit``, fast retries."""
    return {"notifications": {
        "email": {"host": "127.0.0.1", "port": smtp.port, "from": "lakeloom@test"},
        "destinations": {"audit": {"type": "webhook", "url": hook.url + "/hook"}},
        "retry": {"max_attempts": 2, "backoff_seconds": 0.05}},
        "server": {"public_url": "http://lakeloom.test"}}


def unfold(header: str) -> str:
    """A mail header as one line (long subjects arrive folded, RFC 5322)."""
    return str(header).replace("\r\n", "").replace("\n", "")


def runs_show(root: Path, run_id: int) -> str:
    """The output of ``lakeloom runs show RUN_ID``."""
    shown = CliRunner().invoke(cli, ["--workspace", str(root), "runs", "show", str(run_id)])
    assert shown.exit_code == 0, shown.output
    return shown.output


@pytest.mark.spark
def test_triggered_sql_alert_notifies_its_subscriptions(spark: SparkSession, tmp_path: Path, smtp: SmtpReceiver,
                                                        hook: HttpReceiver) -> None:
    root = make_workspace(tmp_path / "ws", notify_conf(smtp, hook))
    (root / "jobs" / "sql").mkdir(parents=True)
    (root / "jobs" / "sql" / "late.sql").write_text("SELECT 'late' AS kind, 7 AS late_orders")
    subscriptions = [{"user_name": "analyst@x"}, {"destination_id": "audit"}]
    job = write_job(root, "alerts", [
        {"task_key": "too_many", "sql_task": {"alert": {
            "query": "SELECT count(*) AS n FROM range(42)", "subscriptions": subscriptions,
            "condition": {"column": "n", "op": "GREATER_THAN", "threshold": 10}}}},
        {"task_key": "late", "sql_task": {"alert": {
            "file": {"path": "sql/late.sql"}, "subscriptions": [{"destination_id": "audit"}],
            "condition": {"column": "late_orders", "op": ">=", "threshold": 5}}}},
        {"task_key": "calm", "sql_task": {"alert": {
            "query": "SELECT 3 AS n", "subscriptions": subscriptions,
            "condition": {"column": "n", "op": "GREATER_THAN", "threshold": 10}}}},
        {"task_key": "muted", "sql_task": {"alert": {
            "query": "SELECT 99 AS n", "subscriptions": subscriptions, "pause_subscriptions": True,
            "condition": {"column": "n", "op": "GREATER_THAN", "threshold": 10}}}},
    ])
    engine = Engine.open(load_workspace(root))
    engine.spark_provider = SharedSpark(spark)
    run = engine.submit(str(job))
    run_id = int(run["run_id"])
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    states = {r.task_key: r.output["sql_output"]["alert_state"]
              for r in engine.store.task_runs(run_id)}
    assert states == {"too_many": "TRIGGERED", "late": "TRIGGERED", "calm": "OK", "muted": "TRIGGERED"}
    flush_all(20)

    bodies = {b["task_key"]: b for b in hook.json_bodies()}
    assert set(bodies) == {"too_many", "late"}  # OK and paused alerts stay quiet
    alert = bodies["too_many"]
    assert alert["event_type"] == ALERT_TRIGGERED and alert["run_id"] == run_id
    assert alert["extra"]["alert_state"] == "TRIGGERED" and alert["extra"]["first_row"] == {"n": 42}
    assert alert["run_page_url"] == f"http://lakeloom.test/runs/{run_id}"
    assert bodies["late"]["extra"]["first_row"] == {"kind": "late", "late_orders": 7}
    assert [m["to"] for m in smtp.messages] == [["analyst@x"]]
    mail = smtp.messages[0]["msg"]
    assert unfold(mail["Subject"]) == f"[lakeloom] Run {run_id} of task too_many of job alerts alert triggered"
    assert mail["X-Lakeloom-Event"] == ALERT_TRIGGERED and "'n': 42" in mail.get_payload()

    rows = [(d["task_key"], d["event_type"], d["destination"], d["status"])
            for d in engine.store.deliveries(run_id)]
    assert sorted(rows) == [("late", ALERT_TRIGGERED, "audit", "DELIVERED"),
                            ("too_many", ALERT_TRIGGERED, "analyst@x", "DELIVERED"),
                            ("too_many", ALERT_TRIGGERED, "audit", "DELIVERED")]
    shown = runs_show(root, run_id)
    assert "Notifications" in shown and ALERT_TRIGGERED in shown and "analyst@x" in shown and "audit" in shown
    engine.store.close()


def test_task_duration_warning_fires_while_the_task_is_still_running(tmp_path: Path, smtp: SmtpReceiver,
                                                                    hook: HttpReceiver) -> None:
    root = make_workspace(tmp_path / "ws", notify_conf(smtp, hook))
    gate = tmp_path / "gate"
    job = write_job(root, "slow-task", [
        {"task_key": "first", "python_task": {"function": "sv_tasks:ok"}},
        {"task_key": "slow", "depends_on": [{"task_key": "first"}],
         "python_task": {"function": "sv_tasks:wait_file", "parameters": {"path": str(gate), "timeout": 60}},
         "health": {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1}]},
         "email_notifications": {"on_duration_warning_threshold_exceeded": ["sre@x"]},
         "webhook_notifications": {"on_duration_warning_threshold_exceeded": [{"id": "audit"}]}},
    ])
    engine = Engine.open(load_workspace(root))
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(engine.submit(str(job))), daemon=True)
    runner.start()
    try:
        warning = wait_until(lambda: hook.json_bodies(), timeout=20)[0]
        # The task is still blocked on its gate: the warning came while it was running.
        task = engine.store.get_task_run(warning["task_run_id"])
        assert task is not None and task.task_key == "slow" and task.end_time is None
        assert warning["event_type"] == ON_DURATION_WARNING and warning["task_key"] == "slow"
        assert warning["state"] == {"life_cycle_state": "RUNNING"} and warning["extra"]["threshold_seconds"] == 1
        mail = wait_until(lambda: smtp.messages, timeout=20)[0]
        assert mail["to"] == ["sre@x"]
        assert unfold(mail["msg"]["Subject"]) == (f"[lakeloom] Run {warning['run_id']} of task slow of job slow-task "
                                          "is running longer than expected")
    finally:
        gate.touch()
        runner.join(30)
    assert result["state"]["result_state"] == "SUCCESS", result["state"]
    flush_all(20)
    run_id = int(result["run_id"])
    rows = engine.store.deliveries(run_id)
    assert sorted((d["task_key"], d["event_type"], d["destination"], d["status"]) for d in rows) == [
        ("slow", ON_DURATION_WARNING, "audit", "DELIVERED"), ("slow", ON_DURATION_WARNING, "sre@x", "DELIVERED")]
    slow = engine.store.get_task_run(warning["task_run_id"])
    assert slow is not None and all(d["time"] < slow.end_time for d in rows)  # sent before the task ended
    assert len(hook.requests) == 1 and len(smtp.messages) == 1  # once per attempt
    shown = runs_show(root, run_id)
    assert ON_DURATION_WARNING in shown and "sre@x" in shown and "slow" in shown
    engine.store.close()
