"""Helpers of the cluster tests: the ``lakeloom`` command and the master's JSON."""
from __future__ import annotations

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
