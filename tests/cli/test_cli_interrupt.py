"""Ctrl-C on `lakeloom run`: the run is cancelled, recorded, and the process exits even
though a task is stuck in pure Python."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))

TASKS = '''
import time
def stuck():
    print("stuck task started", flush=True)
    time.sleep(600)   # ignores cancellation on purpose
def after():
    print("cleanup ran")
'''

JOB = '''
name: interrupt
tasks:
  - task_key: stuck
    python_task: {function: "int_tasks:stuck"}
  - task_key: dependent
    depends_on: [{task_key: stuck}]
    python_task: {function: "int_tasks:after"}
  - task_key: cleanup
    depends_on: [{task_key: stuck}]
    run_if: ALL_DONE
    python_task: {function: "int_tasks:after"}
'''


def _runs(ws: Path) -> list[dict]:
    out = subprocess.run([LAKELOOM, "--workspace", str(ws), "runs", "list", "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_sigint_cancels_the_run_and_the_process_exits(tmp_path: Path) -> None:
    (tmp_path / "int_tasks.py").write_text(TASKS)
    (tmp_path / "job.yml").write_text(JOB)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text("engine: {cancel_grace_seconds: 0.5}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen([LAKELOOM, "--workspace", str(tmp_path), "run", "job.yml"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / ".lakeloom" / "logs"
    deadline = time.monotonic() + 60
    while not list(log.glob("*/stuck/0.log")):
        assert proc.poll() is None and time.monotonic() < deadline, "the stuck task never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "cancelling the run" in err
    (run,) = _runs(tmp_path)
    assert run["state"]["result_state"] == "CANCELED"
    shown = json.loads(subprocess.run([LAKELOOM, "--workspace", str(tmp_path), "runs", "show",
                                       str(run["run_id"]), "--json"], capture_output=True, text=True,
                                      check=True).stdout)
    states = {t["task_key"]: t["state"]["result_state"] for t in shown["tasks"]}
    assert states == {"stuck": "CANCELED", "dependent": "UPSTREAM_CANCELED", "cleanup": "SUCCESS"}
    assert "abandoned" in next(t for t in shown["tasks"] if t["task_key"] == "stuck")["state"]["state_message"]
