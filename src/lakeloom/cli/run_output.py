"""What ``bundle run`` prints on stdout once a job run ends, as ``databricks bundle run`` does.

The CLI (``bundle/run/output``) takes each task's ``runs/get-output``: a notebook's exit value,
a SQL task's output as JSON, and for Python script, wheel and JAR tasks the ``logs`` (what the
task wrote). A single task's output is printed as is; several are printed in the order the
tasks ended, each under ``Task <key>:``. Tasks with no output are left out.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lakeloom.store.run_shape import task_output

#: Task kinds whose output is their logs on Databricks ("JAR, python script and python wheel tasks").
LOG_KINDS = ("spark_python_task", "python_wheel_task", "spark_jar_task", "spark_submit_task", "python_task")


def _logs(out: dict[str, Any], resolve: Any) -> str:
    path = out.get("log_path")
    if not path:
        return ""
    p = Path(resolve(path))
    return p.read_text(errors="replace") if p.is_file() else ""


def task_text(task: dict[str, Any], out: dict[str, Any], resolve: Any) -> str | None:
    """One task's output as the CLI renders it, or None when it has none."""
    notebook = out.get("notebook_output")
    if isinstance(notebook, dict):
        result = notebook.get("result")
        text = "" if result is None else str(result)
        return text + "\n[truncated...]\n" if notebook.get("truncated") else text
    if isinstance(out.get("sql_output"), dict):
        return "SQL Task Output:\n" + json.dumps(out["sql_output"], indent=2, default=str)
    if any(kind in task for kind in LOG_KINDS):
        return _logs(out, resolve) or None
    return None


def job_output_text(store: Any, run: dict[str, Any], resolve: Any = str) -> str:
    """The text ``databricks bundle run`` prints for the finished ``run`` (``""`` when none).

    ``resolve`` turns a stored log path into a readable one (the workspace's ``resolve_stored``).
    """
    latest: dict[str, dict[str, Any]] = {}  # the run lists every attempt; the last one counts
    for task in run.get("tasks", []):
        if task.get("iteration") is None:
            latest[task["task_key"]] = task
    outputs: list[tuple[int, str, str]] = []
    for task in latest.values():
        out = task_output(store, task["run_id"])
        text = task_text(task, out or {}, resolve)
        if text is not None:
            outputs.append((int(task.get("end_time") or 0), task["task_key"], text))
    if len(outputs) == 1:
        return outputs[0][2]
    if not outputs:
        return ""
    lines = ["Output:"]
    for _, key, text in sorted(outputs, key=lambda o: o[0]):
        lines += ["=======", f"Task {key}:", text]
    return "\n".join(lines) + "\n"
