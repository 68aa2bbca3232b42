"""Per-attempt log files and failure details in the store and the run shape."""
from __future__ import annotations

from pathlib import Path

import re

from harness import Harness, attempts, task
from lakeloom.store.run_shape import task_output


def test_parallel_tasks_get_separate_unmixed_logs(harness: Harness) -> None:
    n = 300
    run = harness.run([task("left", "print_lines", params={"tag": "LEFT", "n": n}),
                       task("right", "print_lines", params={"tag": "RIGHT", "n": n})])
    assert run["state"]["result_state"] == "SUCCESS"
    import ll_tasks
    assert ll_tasks.state["max_seen"] == 2  # both really ran at the same time
    logs = harness.workspace.state_dir / "logs" / str(run["run_id"])
    for tag, other, key in (("LEFT", "RIGHT", "left"), ("RIGHT", "LEFT", "right")):
        path = logs / key / "0.log"
        text = path.read_text()
        assert [int(i) for i in re.findall(rf"^{tag} line (\d+)$", text, re.M)] == list(range(n))
        assert len(re.findall(rf"^{tag} err \d+$", text, re.M)) == len(range(0, n, 10))
        assert f"{tag} logged" in text  # logging records are captured too
        assert other not in text
        row = harness.task_rows(run["run_id"], key)[0]
        assert harness.workspace.resolve_stored(row.log_path) == path
        assert not Path(row.log_path or "").is_absolute()  # relative to the workspace root: it can move


def test_each_attempt_has_its_own_log_file(harness: Harness) -> None:
    run = harness.run([task("a", "fail_until_attempt", params={"succeed_at": 1}, max_retries=1)])
    folder = harness.workspace.state_dir / "logs" / str(run["run_id"]) / "a"
    # Attempt 1 succeeded without printing: a log file is only created by a first write.
    assert sorted(p.name for p in folder.iterdir()) == ["0.log"]
    assert "attempt 0 fails on purpose" in (folder / "0.log").read_text()
    rows = harness.task_rows(run["run_id"], "a")
    assert [Path(r.log_path).name for r in rows] == ["0.log", "1.log"]


def test_failure_records_type_message_and_traceback(harness: Harness) -> None:
    run = harness.run([task("bad", "fail", params={"message": "the input table is empty"})])
    entry = attempts(run, "bad")[0]
    assert entry["state"]["result_state"] == "FAILED"
    assert entry["state"]["state_message"] == "DataError: the input table is empty"
    assert entry["status"]["termination_details"]["message"] == "DataError: the input table is empty"
    row = harness.task_rows(run["run_id"], "bad")[0]
    assert row.error_type == "DataError"
    assert "Traceback (most recent call last)" in row.error_trace
    assert "ll_tasks.py" in row.error_trace and "raise DataError(message)" in row.error_trace
    out = task_output(harness.store, entry["run_id"])
    assert out is not None
    assert out["error"] == "DataError: the input table is empty"
    assert "raise DataError(message)" in out["error_trace"]
    # The traceback also lands in the attempt's log.
    assert "DataError: the input table is empty" in (harness.workspace.logs_dir / str(run["run_id"]) / "bad" /
                                                      "0.log").read_text()
    assert run["state"]["state_message"] == "1 task(s) did not succeed: bad"


def test_return_value_is_stored_as_output(harness: Harness) -> None:
    run = harness.run([task("a", "echo", params={"x": 1, "y": "two"})])
    out = task_output(harness.store, attempts(run, "a")[0]["run_id"])
    assert out is not None and out["result"] == {"x": 1, "y": "two"}
