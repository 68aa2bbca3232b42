"""`lakeloom mlflow ui` serves MLflow's own UI and API on the workspace store."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mlflow_ui_serves_the_workspace_store(tmp_path: Path) -> None:
    from lakeloom.config import load_workspace
    from lakeloom.plugins.ml.experiments import experiment_id_for

    experiment_id_for(load_workspace(tmp_path), "/Shared/ui-check")
    port = _free_port()
    lakeloom = Path(sys.executable).with_name("lakeloom")
    proc = subprocess.Popen([str(lakeloom), "-w", str(tmp_path), "mlflow", "ui", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, names = time.monotonic() + 120, None
        while time.monotonic() < deadline and names is None:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
                               json={"max_results": 10}, timeout=5)
                names = sorted(e["name"] for e in r.json()["experiments"])
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                time.sleep(0.5)
        assert names == ["/Shared/ui-check", "Default"]
    finally:
        import os

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_mlflow_ui_without_a_store_says_so(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lakeloom.cli.main import cli

    result = CliRunner().invoke(cli, ["-w", str(tmp_path), "mlflow", "ui"])
    assert result.exit_code == 1 and "no MLflow store at" in result.output
