"""The driver.log events a task caused are picked out for its own log: its tag only, with
their stack-trace lines, from where the attempt began."""
from __future__ import annotations

from pathlib import Path

from lakeloom.runtime.jvm_logging import log_size, task_lines

BEFORE = "26/12/03 08:00:00 WARN Exec [load]: from an earlier attempt\n"
AFTER = ("26/12/03 08:00:01 WARN Exec [load]: slow plan\n"
         "26/12/03 08:00:01 ERROR Task [other]: not mine\n"
         "java.lang.IllegalStateException: other\n"
         "26/12/03 08:00:02 ERROR Exec [load]: failed\n"
         "java.lang.RuntimeException: boom\n"
         "\tat org.example.Foo.bar(Foo.java:1)\n"
         "26/12/03 08:00:03 WARN SparkContext: untagged\n")


def test_task_lines_keeps_the_tasks_events_since_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "driver.log"
    assert log_size(log) == 0 and task_lines(log, 0, "load") == ""  # no driver.log yet
    log.write_text(BEFORE)
    start = log_size(log)
    with log.open("a") as f:
        f.write(AFTER)
    assert task_lines(log, start, "load") == (
        "26/12/03 08:00:01 WARN Exec [load]: slow plan\n"
        "26/12/03 08:00:02 ERROR Exec [load]: failed\n"
        "java.lang.RuntimeException: boom\n"
        "\tat org.example.Foo.bar(Foo.java:1)\n")
    assert "not mine" in task_lines(log, start, "other") and "boom" not in task_lines(log, start, "other")
