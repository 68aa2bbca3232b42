"""Task functions for serve tests (``python_task: {function: "sv_tasks:<name>"}``)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def ok(**_: Any) -> str:
    return "ok"


def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


def sleep(seconds: float = 1.0) -> str:
    time.sleep(float(seconds))
    return "slept"


def wait_file(path: str, ctx: Any = None, timeout: float = 60) -> str:
    """Wait until ``path`` exists (stops early when cancelled)."""
    deadline = time.monotonic() + float(timeout)
    while not Path(path).exists():
        if ctx is not None and ctx.cancel_event.wait(0.05):
            raise RuntimeError("cancelled")
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.02)
    return "released"
