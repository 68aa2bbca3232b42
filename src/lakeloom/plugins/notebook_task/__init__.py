"""The ``notebook_task`` plugin: run Databricks notebooks in-process on the run's session.

``notebook_task: {notebook_path, base_parameters}``; the path is relative to the job
file (the extension may be left out). ``.ipynb`` notebooks and Databricks source
notebooks (``.py`` / ``.sql``) run cell by cell; parameters are widgets; the exit
value of ``dbutils.notebook.exit`` is the task's ``notebook_output.result``; the
executed notebook is saved as ``.ipynb`` next to the task's log.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskOutput, TaskType
from lakeloom.spec.parameters import coerce_param_map

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext

MAX_RESULT_BYTES = 5 * 1024 * 1024


class NotebookTaskSettings(BaseModel):
    """``notebook_task`` (Jobs API fields; ``source`` and ``warehouse_id`` are accepted and ignored)."""

    model_config = ConfigDict(extra="forbid")

    notebook_path: str
    base_parameters: dict[str, str] = Field(default_factory=dict)
    source: Literal["WORKSPACE", "GIT"] | None = None
    warehouse_id: str | None = None

    @field_validator("base_parameters", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        return coerce_param_map(v)


def executed_notebook_path(ctx: TaskContext) -> Path:
    """Where the attempt's executed notebook is saved (next to its log, so each for-each
    iteration keeps its own)."""
    if ctx.log_path is not None:
        return ctx.log_path.with_suffix(".ipynb")
    return ctx.workspace.logs_dir / str(ctx.run_id) / ctx.task_key / f"{ctx.attempt_number}.ipynb"


def notebook_redactor(ctx: TaskContext) -> Callable[[str], str]:
    """``ctx.redact`` that also catches secrets as they appear HTML-escaped in display tables."""
    import html

    def redact(text: str) -> str:
        for secret in sorted(ctx.redactions.copy(), key=len, reverse=True):
            if secret:
                for form in dict.fromkeys((secret, html.escape(secret), html.escape(secret, quote=False))):
                    text = text.replace(form, "[REDACTED]")
        return text

    return redact


def run_notebook_task(ctx: TaskContext, settings: NotebookTaskSettings) -> TaskOutput:
    """Run the notebook; save the executed copy; raise NotebookCellError on failure."""
    from lakeloom.plugins.notebook_task.executor import NotebookRunner
    from lakeloom.plugins.notebook_task.writer import write_executed_notebook
    from lakeloom.runtime.dbutils.notebook import CHILD_RUNS_KEY, resolve_notebook_path
    from lakeloom.runtime.dbutils.widgets import reset_widgets
    from lakeloom.runtime.imports import task_file_scope

    path = resolve_notebook_path(settings.notebook_path, ctx.base_dir)
    reset_widgets(ctx, {**settings.base_parameters, **ctx.parameters})
    with task_file_scope(path.parent, ctx.base_dir):
        result = NotebookRunner(ctx, path).run()
    saved = executed_notebook_path(ctx)
    try:
        write_executed_notebook(result, saved, notebook_redactor(ctx), {
            "run_id": ctx.run_id, "job_id": ctx.job_id, "task_key": ctx.task_key,
            "attempt_number": ctx.attempt_number, "parameters": dict(ctx.parameters)})
    except OSError as e:  # losing the copy must not hide the notebook's own outcome
        ctx.logger.warning("could not save the executed notebook to %s: %s", saved, e)
    if result.error is not None:
        raise result.error
    # Redacted here too: the stored output is JSON, where a secret's escaped form would slip by.
    value = None if result.exit_value is None else notebook_redactor(ctx)(result.exit_value)
    truncated = value is not None and len(value.encode("utf-8")) > MAX_RESULT_BYTES
    if truncated:
        value = value.encode("utf-8")[:MAX_RESULT_BYTES].decode("utf-8", errors="ignore")
    return TaskOutput(output={"notebook_output": {"result": value, "truncated": truncated},
                              "executed_notebook": ctx.workspace.stored_path(saved)},
                      child_run_ids=list(ctx.stash.get(CHILD_RUNS_KEY, [])))


def validate_notebook_settings(settings: Any, base_dir: Path) -> list:
    """Static check: the notebook (and what it ``%run``s) exists and parses; Python
    cells compile; SQL cells parse with sqlglot."""
    from lakeloom.plugins.notebook_task.checks import check_notebook

    if not isinstance(settings, NotebookTaskSettings):
        settings = NotebookTaskSettings.model_validate(settings)
    return check_notebook(settings.notebook_path, base_dir)


NOTEBOOK_TASK = TaskType(
    key="notebook_task",
    settings_model=NotebookTaskSettings,
    run=run_notebook_task,
    needs_spark=True,
    validate=validate_notebook_settings,
    key_value_parameters=True,
    parameters_field="base_parameters",
    description="Databricks notebook (.py source, .sql source or .ipynb) run in-process",
)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """The ``notebook_task`` task type."""
    return [NOTEBOOK_TASK]


__all__ = ["NOTEBOOK_TASK", "NotebookTaskSettings", "executed_notebook_path", "run_notebook_task",
           "validate_notebook_settings"]
