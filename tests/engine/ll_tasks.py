"""Real task functions the engine tests run (imported by ``python_task`` as ``ll_tasks:<name>``).

Shared state (counters, gates) lives at module level and is reset by the ``harness``
fixture before every test.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lakeloom.plugin_api import TaskCancelled

_lock = threading.Condition()
state: dict[str, Any] = {}


def reset() -> None:
    with _lock:
        state.clear()
        state.update(current=0, max_seen=0, target=0, calls=[])


reset()


class DataError(Exception):
    """A distinctive exception type for failure-recording tests."""


def ok(**kwargs: Any) -> None:
    with _lock:
        state["calls"].append(kwargs)


def echo(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != "ctx"}


def fail(message: str = "boom") -> None:
    raise DataError(message)


def cancel_self() -> None:
    raise TaskCancelled("the task cancelled itself")


def fail_until_attempt(ctx: Any, succeed_at: int) -> int:
    """Fails every attempt before ``succeed_at`` (attempt numbers count from 0)."""
    if ctx.attempt_number < int(succeed_at):
        raise DataError(f"attempt {ctx.attempt_number} fails on purpose")
    return ctx.attempt_number


def sleep_then_fail(seconds: float) -> None:
    time.sleep(float(seconds))
    raise DataError("slow failure")


def cooperative_sleep(ctx: Any, seconds: float, until_attempt: int = 10**9) -> str:
    """Sleeps ``seconds`` (stopping at once on cancel) on attempts before ``until_attempt``."""
    if ctx.attempt_number >= int(until_attempt):
        return "fast"
    if ctx.cancel_event.wait(float(seconds)):
        raise TaskCancelled("stopped")
    return "slept"


def stuck(seconds: float = 600) -> None:
    """Ignores cancellation entirely: pure Python, no cancel checks."""
    time.sleep(float(seconds))


def wait_for_file(path: str, fail_if_missing: bool = False) -> str:
    p = Path(path)
    if fail_if_missing:
        if not p.exists():
            raise DataError(f"{path} does not exist yet")
        return "found"
    while not p.exists():
        time.sleep(0.02)
    return "found"


def set_values(ctx: Any, **values: Any) -> None:
    for k, v in values.items():
        ctx.task_values.set(k, v)


def set_raw(ctx: Any, key: str, kind: str) -> None:
    """Sets a value that the task-value rules must reject."""
    if kind == "too_big":
        ctx.task_values.set(key, "x" * (48 * 1024))  # 48 KiB + the JSON quotes
    elif kind == "exactly_limit":
        ctx.task_values.set(key, "x" * (48 * 1024 - 2))
    elif kind == "not_json":
        ctx.task_values.set(key, {1, 2, 3})


def get_value(ctx: Any, task_key: str, key: str, use_default: bool = False) -> Any:
    if use_default:
        return {"value": ctx.task_values.get(task_key, key, default="the-default")}
    return {"value": ctx.task_values.get(task_key, key)}


def gate(ctx: Any, target: int, **_: Any) -> int:
    """Counts concurrent callers; waits (bounded) until ``target`` were seen at once."""
    with _lock:
        state["target"] = int(target)
        state["current"] += 1
        state["max_seen"] = max(state["max_seen"], state["current"])
        _lock.notify_all()
        _lock.wait_for(lambda: state["max_seen"] >= int(target), timeout=10)
        # Linger a moment so that, if the engine over-subscribes, the excess is observed.
        _lock.wait(0.05)
        state["current"] -= 1
        return state["max_seen"]


def print_lines(ctx: Any, tag: str, n: int) -> None:
    gate(ctx, 2)
    for i in range(int(n)):
        print(f"{tag} line {i}")
        if i % 10 == 0:
            sys.stderr.write(f"{tag} err {i}\n")
            time.sleep(0)
    import logging
    logging.getLogger("ll_tasks").warning("%s logged", tag)


def say(text: str) -> None:
    """Write ``text`` (a script's stdout), nothing else."""
    print(text)


def record_input(ctx: Any, value: str, extra: str = "") -> dict[str, str]:
    if value == "bad":
        raise DataError("bad input")
    with _lock:
        state["calls"].append((value, extra))
    return {"value": value, "extra": extra}


def write_json(path: str, **values: Any) -> None:
    Path(path).write_text(json.dumps(values))


def pid() -> int:
    return os.getpid()


def context_view(ctx: Any, **kwargs: Any) -> dict[str, Any]:
    return {"parameters": dict(ctx.parameters), "job_parameters": dict(ctx.job_parameters),
            "kwargs": {k: v for k, v in kwargs.items()}, "execution_count": ctx.execution_count,
            "attempt_number": ctx.attempt_number, "task_key": ctx.task_key, "run_id": ctx.run_id}


def flaky_setter(ctx: Any, succeed_at: int, **values: Any) -> None:
    if ctx.attempt_number < int(succeed_at):
        raise DataError("not yet")
    for k, v in values.items():
        ctx.task_values.set(k, v)
