"""Build real TaskContexts for notebook/SQL task tests (no engine, no mocks).

``NotebookServices`` is a RunServices that really runs a child notebook job through
the notebook plugin on its own thread, honouring the timeout.
"""
from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path
from typing import Any

from lakeloom.config import Workspace
from lakeloom.plugin_api import ChildRunResult, TaskContext, TaskValues
from lakeloom.plugin_api.context import activate

_ids = itertools.count(1000)


class DictValueStore:
    """Task values of one run, in a dict."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}

    def set(self, task_key: str, key: str, value: Any) -> None:
        self.values[(task_key, key)] = value

    def get(self, task_key: str, key: str) -> Any:
        return self.values[(task_key, key)]


class NotebookServices:
    """Runs ``dbutils.notebook.run`` children through the notebook plugin."""

    def __init__(self, workspace: Workspace, spark: Any = None) -> None:
        self.workspace = workspace
        self.spark = spark
        self.children: list[TaskContext] = []

    def run_nested_task(self, ctx: TaskContext, task: Any, *, input_value: Any, iteration: int) -> dict[str, Any]:
        raise NotImplementedError("for_each is not used by notebook tests")

    def run_child_job(self, ctx: TaskContext, job: Any, parameters: dict[str, str], *, run_type: str = "JOB_RUN",
                      timeout_seconds: int = 0, base_dir: Path | None = None) -> ChildRunResult:
        from lakeloom.plugins.notebook_task import NotebookTaskSettings, run_notebook_task

        assert run_type == "WORKFLOW_RUN"
        task = job.tasks[0]
        settings = NotebookTaskSettings.model_validate(task.settings_raw)
        child = make_ctx(self.workspace, spark=self.spark, task_key=task.task_key, run_id=next(_ids),
                         parameters={**settings.base_parameters, **parameters}, base_dir=base_dir or ctx.base_dir,
                         services=self, job_name=job.name)
        self.children.append(child)
        box: dict[str, Any] = {}

        def target() -> None:
            with activate(child):
                try:
                    box["output"] = run_notebook_task(child, settings).output
                except BaseException as e:  # the child's failure is its result, as in the engine
                    box["error"] = e

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(timeout_seconds or None)
        if thread.is_alive():
            child.cancel_event.set()
            return ChildRunResult(child.run_id, "TIMEDOUT", f"timed out after {timeout_seconds} s", {})
        if "error" in box:
            return ChildRunResult(child.run_id, "FAILED", str(box["error"]), {})
        return ChildRunResult(child.run_id, "SUCCESS", "", {task.task_key: box["output"]})


def make_ctx(workspace: Workspace, *, spark: Any = None, task_key: str = "nb", run_id: int = 1,
             parameters: dict[str, str] | None = None, base_dir: Path | None = None,
             store: DictValueStore | None = None, services: Any = None, job_name: str = "test-job") -> TaskContext:
    """A TaskContext over ``workspace`` whose ``spark`` is the given session."""
    def no_spark() -> Any:
        raise RuntimeError("this test has no SparkSession")

    return TaskContext(
        run_id=run_id, job_id=1, job_name=job_name, task_key=task_key, task_run_id=next(_ids), attempt_number=0,
        execution_count=1, parameters=dict(parameters or {}), job_parameters={},
        task_values=TaskValues(store if store is not None else DictValueStore(), task_key),
        logger=logging.getLogger(f"test.{task_key}"), workspace=workspace, base_dir=base_dir or workspace.root,
        cancel_event=threading.Event(), spark_provider=(lambda: spark) if spark is not None else no_spark,
        resolver=lambda text: text, services=services or NotebookServices(workspace, spark))


def run_in_task(ctx: TaskContext, fn: Any, *args: Any) -> Any:
    """Call ``fn(*args)`` on a fresh thread with ``ctx`` active (as the engine does)."""
    box: dict[str, Any] = {}

    def target() -> None:
        with activate(ctx):
            try:
                box["value"] = fn(*args)
            except BaseException as e:
                box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join(120)
    assert not t.is_alive(), "task thread did not finish"
    if "error" in box:
        raise box["error"]
    return box.get("value")
