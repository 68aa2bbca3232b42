"""``dbutils.notebook``: ``exit`` ends the notebook, ``run`` starts a child notebook run,
``getContext()`` / ``entry_point`` give the Databricks notebook context object."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable

from lakeloom.plugin_api import StashKey, TaskContext, current_context
from lakeloom.runtime.dbutils.notebook_context import (
    NOTEBOOK_STACK_KEY,
    NOTEBOOK_SUFFIXES,
    EntryPoint,
    NotebookContext,
    current_notebook_context,
)
from lakeloom.spec.parameters import param_string

_log = logging.getLogger("lakeloom.dbutils")

#: ``ctx.stash`` key: run ids of child runs started by this attempt.
CHILD_RUNS_KEY = StashKey[list[int]]()
#: ``ctx.stash`` key: value passed to ``exit`` outside a notebook (scripts, wheels).
EXIT_VALUE_KEY = StashKey[str]()
#: The running notebook's ``%restart_python`` (for ``dbutils.library.restartPython``).
RESTART_PYTHON_KEY = StashKey[Callable[[], None]]()


class NotebookExit(BaseException):
    """Raised by ``dbutils.notebook.exit`` to stop the notebook successfully.

    A BaseException, so a user's ``except Exception`` does not swallow it.
    """

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class NotebookRunError(Exception):
    """A notebook started by ``dbutils.notebook.run`` failed, timed out or was cancelled."""

    def __init__(self, message: str, run_id: int | None = None, result_state: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.result_state = result_state


def resolve_notebook_path(path: str, base: Path) -> Path:
    """The notebook file ``path`` names, relative to ``base``; tries the Databricks
    habit of leaving out the extension (``.py``, ``.ipynb``, ``.sql``)."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = base / p
    candidates = [p] if p.suffix in NOTEBOOK_SUFFIXES else [p.with_name(p.name + s) for s in NOTEBOOK_SUFFIXES] + [p]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"notebook {path!r} not found (tried {tried})")


def current_notebook_dir(ctx: TaskContext) -> Path:
    """The folder of the task's notebook, else the job's folder.

    Code a ``%run`` included runs as part of the calling notebook (Databricks inlines it),
    so ``dbutils.notebook.run("./x")`` from it resolves against the caller, not the
    included file."""
    stack = ctx.stash.get(NOTEBOOK_STACK_KEY, None) or []
    return Path(stack[0]).parent if stack else ctx.base_dir


class NotebookUtil:
    """``dbutils.notebook``."""

    def exit(self, value: Any = "") -> None:
        """End the notebook successfully; ``value`` (as a string) is its result.

        Outside a notebook (a script or wheel task) the value is only recorded.
        """
        text = param_string(value)
        ctx = current_context()
        if ctx is not None and ctx.stash.get(NOTEBOOK_STACK_KEY, None):
            raise NotebookExit(text)
        if ctx is not None:
            ctx.stash[EXIT_VALUE_KEY] = text
        _log.info("dbutils.notebook.exit(%r) outside a notebook: value recorded, execution continues", text)

    def run(self, path: str, timeout_seconds: int = 0, arguments: dict[str, Any] | None = None,
            *_args: Any, **_kwargs: Any) -> str | None:
        """Run notebook ``path`` (relative to the calling notebook) as a child run
        (``run_type`` WORKFLOW_RUN) with ``arguments`` as its widgets; return its
        ``exit`` value (None when it did not call exit). ``timeout_seconds`` = 0
        means no timeout. Raises NotebookRunError when the child does not succeed.
        """
        ctx = current_context()
        if ctx is None:
            raise RuntimeError("dbutils.notebook.run needs a running lakeloom task (use `lakeloom run`)")
        from lakeloom.spec.models import Job

        notebook = resolve_notebook_path(path, current_notebook_dir(ctx))
        task_key = re.sub(r"[^A-Za-z0-9_\-]", "_", notebook.stem)[:100] or "notebook"
        params = {str(k): param_string(v) for k, v in (arguments or {}).items()}
        job = Job.model_validate({
            "name": f"{ctx.job_name} > {notebook.name}",
            "tasks": [{"task_key": task_key,
                       "notebook_task": {"notebook_path": str(notebook), "base_parameters": params}}],
        })
        result = ctx.services.run_child_job(ctx, job, {}, run_type="WORKFLOW_RUN",
                                            timeout_seconds=int(timeout_seconds or 0), base_dir=notebook.parent)
        ctx.stash.setdefault(CHILD_RUNS_KEY, []).append(result.run_id)
        if result.result_state != "SUCCESS":
            what = "timed out" if result.result_state == "TIMEDOUT" else f"ended {result.result_state}"
            raise NotebookRunError(
                f"dbutils.notebook.run({path!r}): child run {result.run_id} {what}"
                + (f" after {timeout_seconds} s" if result.result_state == "TIMEDOUT" else "")
                + (f": {result.state_message}" if result.state_message else ""),
                run_id=result.run_id, result_state=result.result_state)
        output = result.outputs.get(task_key) or {}
        return (output.get("notebook_output") or {}).get("result")

    @property
    def entry_point(self) -> EntryPoint:
        """For ``entry_point.getDbutils().notebook().getContext()``, the classic way to
        read the run context on Databricks."""
        return EntryPoint()

    def getContext(self) -> NotebookContext:
        """The notebook context (job id, run ids, task key, notebook path, tags) of the
        calling task; its Options are empty outside a task."""
        return current_notebook_context()

    def help(self, method: str | None = None) -> None:
        """Print the methods."""
        print("dbutils.notebook: exit(value), run(path, timeout_seconds, arguments), getContext(), "
              "entry_point.getDbutils().notebook().getContext()")
