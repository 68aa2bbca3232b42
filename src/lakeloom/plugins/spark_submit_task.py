"""Built-in plugin: ``spark_submit_task: {parameters: [...]}`` runs ``spark-submit`` as a child
Spark application of the task, against the run's master (``spark.master`` / ``--master``).

As on Databricks, ``parameters`` are spark-submit's own arguments: options (``--class``,
``--jars``, ``--py-files``, ``--conf``), then the application (a jar or a Python file, relative
to the job file's folder) and its arguments. The child gets lakeloom's Delta and catalog
settings first, so it sees the workspace's tables; ``--conf`` in ``parameters`` override them.
Its output goes to the task log; a non-zero exit fails the task; cancel and timeout stop it.
"""
from __future__ import annotations

from pydantic import Field

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskContext, TaskOutput, TaskType
from lakeloom.spec.models import Strict


class SparkSubmitTask(Strict):
    """``spark_submit_task`` (Jobs API fields)."""

    parameters: list[str] = Field(default_factory=list, min_length=1)


def _run_submit(ctx: TaskContext, settings: SparkSubmitTask) -> TaskOutput:
    from lakeloom.runtime.spark_submit import child_application_command, run_child_application

    run_child_application(ctx, child_application_command(ctx, list(settings.parameters)))
    return TaskOutput()


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """The ``spark_submit_task`` task type."""
    return [TaskType("spark_submit_task", SparkSubmitTask, _run_submit, needs_spark=False,
                     description="run spark-submit as a child application on the run's master")]
