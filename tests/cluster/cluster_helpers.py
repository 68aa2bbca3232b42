"""Helpers of the cluster tests: the ``lakeloom`` command, the master's JSON, a run's JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lakeloom.runtime.standalone import ClusterInfo

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))
#: Cold runs: a warm ``lakeloom daemon`` would outlive the test and hold the cluster's cores.
COLD = {"LAKELOOM_DAEMON": "0"}


def lakeloom(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the ``lakeloom`` command of this interpreter."""
    return subprocess.run([LAKELOOM, *args], cwd=cwd, env={**os.environ, **COLD, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def master_json(info: ClusterInfo) -> dict:
    from lakeloom.runtime.standalone import read_json

    return read_json(f"{info.master_webui}/json/")  # type: ignore[no-any-return]


def run_json(proc: subprocess.CompletedProcess[str]) -> dict:
    """The final ``Run`` printed by ``lakeloom run --json``."""
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return json.loads(proc.stdout[proc.stdout.index("{"):])  # type: ignore[no-any-return]
