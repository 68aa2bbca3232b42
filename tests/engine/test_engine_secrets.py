"""Secrets read in a run are redacted wherever the run persists or shows a value."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness import Harness, results
from lakeloom.store.run_shape import run_shape, task_output

SECRET = "s3cr3t-Value-8472"


@pytest.fixture
def h(make_harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setenv("LAKELOOM_SECRET_VAULT__TOKEN", SECRET)
    return make_harness()


def _files_mentioning(root: Path, text: str) -> list[str]:
    needle = text.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_secret_passed_through_task_values_is_never_persisted(h: Harness) -> None:
    ref = "{{tasks.up.values.k}}"
    run = h.run([
        {"task_key": "up", "python_task": {"function": "secret_tasks:leak_upstream"}},
        {"task_key": "down", "depends_on": [{"task_key": "up"}],
         "python_task": {"function": "secret_tasks:use_downstream", "parameters": {"p": ref}}},
        {"task_key": "blind", "depends_on": [{"task_key": "up"}],
         "python_task": {"function": "secret_tasks:use_without_reading", "parameters": {"p": ref}}},
        {"task_key": "bad", "depends_on": [{"task_key": "up"}],
         "python_task": {"function": "secret_tasks:fail_with", "parameters": {"p": ref}}},
    ])
    assert results(run) == {"up": "SUCCESS", "down": "SUCCESS", "blind": "SUCCESS", "bad": "FAILED"}
    # The downstream tasks worked with the real value...
    by_key = {t["task_key"]: t for t in run["tasks"]}
    assert task_output(h.store, by_key["down"]["run_id"])["result"] == {"echo": "[REDACTED]", "same": True}
    assert task_output(h.store, by_key["blind"]["run_id"])["result"]["length"] == len(SECRET)
    # ...but no stored row, log or shown output holds it.
    assert h.store.task_values(run["run_id"])["up"] == {
        "k": "[REDACTED]", "nested": {"header": "Bearer [REDACTED]", "list": ["[REDACTED]"]}}
    assert "[REDACTED]" in by_key["bad"]["state"]["state_message"]
    shown = str(run_shape(h.store, run["run_id"])) + str([task_output(h.store, t["run_id"]) for t in run["tasks"]])
    assert SECRET not in shown
    assert _files_mentioning(h.root / ".lakeloom", SECRET) == []
