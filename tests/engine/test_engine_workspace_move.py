"""A workspace can be moved or copied: the store records its files relative to the root."""
from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from harness import Harness
from lakeloom.cli.main import cli
from lakeloom.server.dashboard.outputs import log_file


def test_a_copied_workspace_reads_its_own_logs(tmp_path: Path) -> None:
    old = Harness(tmp_path / "old")
    run = old.run([{"task_key": "say", "shell_task": {"command": "echo copied line 0; echo copied line 1"}}])
    run_id = run["run_id"]
    row = old.task_rows(run_id, "say")[0]
    assert not Path(row.log_path or "").is_absolute()
    old.close()
    shutil.copytree(tmp_path / "old", tmp_path / "new")
    old_log = old.workspace.resolve_stored(row.log_path)
    old_log.write_text("STALE: the old location\n")  # the original keeps changing after the copy

    new = Harness(tmp_path / "new")
    out = CliRunner().invoke(cli, ["-w", str(tmp_path / "new"), "runs", "logs", str(run_id), "say"])
    assert out.exit_code == 0, out.output
    assert "copied line 0" in out.output and "STALE" not in out.output
    new_row = new.task_rows(run_id, "say")[0]
    shown = log_file(new_row.as_dict(), new.workspace.logs_dir)
    assert shown is not None and shown.is_relative_to(tmp_path / "new") and "copied line 1" in shown.read_text()

    # A store written by an older version holds absolute paths: they map into this workspace too.
    new.store.update_task_run(new_row.task_run_id, log_path=str(old_log))
    out = CliRunner().invoke(cli, ["-w", str(tmp_path / "new"), "runs", "logs", str(run_id), "say"])
    assert "copied line 0" in out.output and "STALE" not in out.output
    new.close()
