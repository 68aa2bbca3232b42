"""Built-in plugin: ``quality_task`` — Great Expectations checks on a table or query result.

``quality_task: {table: main.sales.orders | query: "...", suite: path/to/suite.json |
expectations: [...], sample_failed_rows: 20}``. Expectations use GX's own names, arguments
and ``severity`` (``critical``, the default, ``warning``, ``info``). Critical failures fail
the task; warning/info failures end it SUCCESS with ``status: WARNING``. Task values:
``success``, ``failed_expectations``, ``status``. Results are stored with the task run and
appended to ``main.lakeloom_quality.results``.

Great Expectations (the ``quality`` extra) is imported only by ``runner`` when a task runs;
``lakeloom validate`` checks expectations against a registry of GX's names and arguments.
"""
from __future__ import annotations

from lakeloom.hookspecs import hookimpl
from lakeloom.plugins.quality.settings import QualityTaskSettings
from lakeloom.plugins.quality.task import run_quality_task
from lakeloom.plugins.quality.validate import validate_quality_settings
from lakeloom.plugin_api import TaskType

QUALITY_TASK = TaskType(
    key="quality_task",
    settings_model=QualityTaskSettings,
    run=run_quality_task,
    needs_spark=True,
    validate=validate_quality_settings,
    description="Great Expectations suite on a table or query result (severity-aware; results to Delta)",
)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """The ``quality_task`` task type."""
    return [QUALITY_TASK]


__all__ = ["QUALITY_TASK", "QualityTaskSettings", "run_quality_task", "validate_quality_settings"]
