"""Run rendering: names and messages are shown as written, never read as rich markup."""
from __future__ import annotations

from rich.console import Console

from lakeloom.cli import render


def _run(name: str, message: str = "") -> dict:
    state = {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": message}
    return {"run_id": 7, "run_name": name, "state": state, "start_time": 1000, "end_time": 2000,
            "tasks": [{"task_key": "t", "attempt_number": 0, "state": state, "start_time": 1000,
                       "end_time": 2000}]}


def test_summary_keeps_a_development_mode_prefix_in_the_job_name() -> None:
    console = Console(width=200, record=True)
    render.summary(_run("[dev alice] for_each_task_example", "see [dev alice] logs"), console)
    text = console.export_text()
    assert "Run 7 · [dev alice] for_each_task_example" in text
    assert "see [dev alice] logs" in text


def test_table_cells_are_literal_text() -> None:
    console = Console(width=200, record=True)
    render.table("Runs", ["job"], [["[dev bob] nightly"]], console)
    assert "[dev bob] nightly" in console.export_text()
