"""Export and subscriptions on real Spark: `lakeloom dashboards export` writes a
self-contained HTML file and PNG / PDF through Debian's Chromium; a dashboard_task's
subscribers get the snapshot's PDF by email through the real SMTP test server."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sample_dashboard import create_orders, write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))
from lakeloom.cli.main import cli  # noqa: E402
from lakeloom.config import load_workspace  # noqa: E402
from lakeloom.engine.api import Engine  # noqa: E402
from lakeloom.plugin_manager import build_plugin_manager  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def subscribed(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from serving import SmtpReceiver, make_workspace

    smtp = SmtpReceiver()
    root = make_workspace(tmp_path_factory.mktemp("dash-export"), {"notifications": {
        "email": {"host": "127.0.0.1", "port": smtp.port, "from": "lakeloom@example.com"},
        "destinations": {"ops": {"type": "email", "to": ["ops@example.com"]}}}})
    create_orders(spark, days=3)
    write(root / "dashboards")
    job = root / "jobs" / "daily.yml"
    job.parent.mkdir(parents=True)
    job.write_text(yaml.safe_dump({"name": "daily", "tasks": [{"task_key": "dash", "dashboard_task": {
        "dashboard_id": "sales", "subscription": {"custom_subject": "Sales today", "subscribers": [
            {"user_name": "ana@example.com"}, {"destination_id": "ops"}, {"destination_id": "missing"}]}}}]}))
    ws = load_workspace(root)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    run = engine.submit(str(job))
    (row,) = engine.store.task_runs(run["run_id"])
    engine.store.close()
    yield {"root": root, "run": run, "row": row, "smtp": smtp}
    smtp.close()
    spark.sql("DROP SCHEMA IF EXISTS main.dash_sales CASCADE")


def test_subscribers_get_the_pdf_by_email(subscribed: dict[str, Any]) -> None:
    row = subscribed["row"]
    assert row.result_state == "SUCCESS", row.state_message
    report = row.output["dashboard_output"]["subscription"]
    assert [(r["subscriber"], r["status"]) for r in report] == [
        ("ana@example.com", "SENT"), ("ops", "SENT"), ("missing", "FAILED")]
    assert "unknown notification destination 'missing'" in report[2]["error"]
    messages = subscribed["smtp"].messages
    assert sorted(m["to"][0] for m in messages) == ["ana@example.com", "ops@example.com"]
    msg = messages[0]["msg"]
    assert msg["Subject"] == "Sales today" and msg["X-Lakeloom-Event"] == "dashboards.on_snapshot"
    (pdf,) = [part for part in msg.walk() if part.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "sales.pdf" and pdf.get_payload(decode=True).startswith(b"%PDF")
    body = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert f"/runs/{subscribed['run']['run_id']}" in body and "widgets" in body


def test_export_html_png_pdf(subscribed: dict[str, Any], tmp_path: Path) -> None:
    base = ["-w", str(subscribed["root"]), "dashboards", "export", "sales"]
    res = CliRunner().invoke(cli, [*base, "--html", str(tmp_path / "d.html"), "--png", str(tmp_path / "d.png"),
                                   "--pdf", str(tmp_path / "d.pdf")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "d.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|/)""", page)  # nothing fetched: self-contained
    assert '"dashboard": "sales"' in page and "vega.expressionInterpreter" in page
    assert (tmp_path / "d.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")
    res = CliRunner().invoke(cli, ["-w", str(subscribed["root"]), "dashboards", "export", "nope", "--html", "x"])
    assert res.exit_code == 1 and "has no snapshot yet" in res.output
