"""The ``lakeloom`` facade: every exported name resolves, and ``lakeloom.context()`` is the
running task's context (the call Databricks-style scripts make first)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import lakeloom

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))

from harness import Harness, task  # noqa: E402


def facade_context_view() -> dict[str, Any]:
    ctx = lakeloom.context()
    return {"task_key": ctx.task_key, "same_run": ctx.run is not None and ctx.run.run_id == ctx.run_id}


@pytest.mark.parametrize("name", sorted(set(lakeloom.__all__) - {"__version__"}))
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(lakeloom, name) is not None


def test_context_is_the_running_task_and_raises_outside_one(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="outside a running task"):
        lakeloom.context()
    h = Harness(tmp_path)
    run = h.run([task("probe", "ok") | {"python_task": {"function": "test_facade:facade_context_view"}}])
    assert run["state"]["result_state"] == "SUCCESS"
    (row,) = h.task_rows(run["run_id"], "probe")
    assert row.output["result"] == {"task_key": "probe", "same_run": True}
    h.close()
