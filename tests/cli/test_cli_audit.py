"""Job actions taken with the CLI are audited as the OS user (system.access.audit's format)."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lakeloom.catalog.audit import read_audit_events
from lakeloom.cli.main import cli
from lakeloom.config import load_workspace


def test_refused_cancel_is_audited(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path), "runs", "cancel", "999"])
    assert result.exit_code == 1 and "run 999 is not running" in result.output
    [event] = read_audit_events(load_workspace(tmp_path))
    assert (event["service_name"], event["action_name"], event["request_params"]) == ("jobs", "cancel", {"run_id": "999"})
    assert event["response"]["status_code"] == 400 and event["user_agent"] == "lakeloom-cli"
    assert event["user_identity"]["email"]
