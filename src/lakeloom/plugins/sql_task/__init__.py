"""The ``sql_task`` plugin: run a ``.sql`` file or an inline query in the run's session.

``sql_task: {file: {path}, parameters}`` or ``{query: {query}, parameters}`` runs every
statement in order, binding ``:name`` markers through Spark's parameterized SQL.
``sql_task: {alert: {query|file, condition: {column, op, threshold}}}`` also sets
``alert_state``. The last statement's result is the task's ``sql_output``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskOutput, TaskType
from lakeloom.plugins.sql_task.execute import run_script, run_sql, sql_output
from lakeloom.plugins.sql_task.placeholders import expand_placeholders
from lakeloom.plugins.sql_task.settings import SqlTaskSettings, evaluate_alert
from lakeloom.plugins.sql_task.splitter import parameter_markers, split_statements
from lakeloom.plugins.sql_task.validate import sql_syntax_errors, validate_sql_settings

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext


def run_sql_task(ctx: TaskContext, settings: SqlTaskSettings) -> TaskOutput:
    """Run the task's SQL; return ``{"sql_output": ...}`` (with ``alert_state`` for alerts)."""
    text, label, _ = settings.sql_source(ctx.base_dir)
    parameters = {**settings.parameters, **ctx.parameters}
    last = run_script(ctx, expand_placeholders(text, parameters, label), parameters, label)
    out = sql_output(last)
    if settings.alert is not None:
        out["alert_state"] = evaluate_alert(settings.alert, out["first_row"])
        ctx.logger.info("alert %s: %s", ctx.task_key, out["alert_state"])
    return TaskOutput(output={"sql_output": out})


SQL_TASK = TaskType(
    key="sql_task",
    settings_model=SqlTaskSettings,
    run=run_sql_task,
    needs_spark=True,
    validate=validate_sql_settings,
    key_value_parameters=True,
    parameters_field="parameters",
    description="SQL file or inline query (statements run in order; :name parameters bound by Spark)",
)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """The ``sql_task`` task type."""
    return [SQL_TASK]


__all__ = ["SQL_TASK", "SqlTaskSettings", "evaluate_alert", "parameter_markers", "run_script", "run_sql",
           "run_sql_task", "split_statements", "sql_output", "sql_syntax_errors", "validate_sql_settings"]
