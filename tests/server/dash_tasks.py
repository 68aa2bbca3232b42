"""Task functions for dashboard tests (``python_task: {function: "dash_tasks:<name>"}``)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def chatty(ctx: Any, message: str = "hello", lines: int = 3) -> str:
    """Print ``lines`` log lines and the message, set task values, return the message."""
    for i in range(int(lines)):
        print(f"line {i}: processing batch {i}")
    print(f"message: {message}")
    ctx.task_values.set("greeting", message)
    ctx.task_values.set("rows", 42)
    return message


def fail_unless(path: str, message: str = "boom") -> str:
    """Fail with ``message`` until ``path`` exists."""
    print(f"checking {path}")
    if not Path(path).exists():
        raise RuntimeError(message)
    print("flag found")
    return "fixed"


def slow_lines(ctx: Any, path: str, timeout: float = 60) -> str:
    """Print a line every 0.2 s until ``path`` exists (stops early when cancelled)."""
    deadline = time.monotonic() + float(timeout)
    i = 0
    while not Path(path).exists():
        print(f"tick {i}", flush=True)
        i += 1
        if ctx.cancel_event.wait(0.2):
            raise RuntimeError("cancelled")
        if time.monotonic() > deadline:
            raise TimeoutError(path)
    return "released"
