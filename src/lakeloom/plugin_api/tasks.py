"""The contract between the engine and a task-type plugin."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext


@dataclass
class TaskOutput:
    """What a task attempt produced.

    ``output`` is merged into the task's ``runs/get-output`` response, so its keys
    follow the Jobs API (``notebook_output``, ``sql_output``, ``run_job_output``,
    ``result`` for lakeloom's native python_task). ``condition_outcome`` is "true" or
    "false" for a condition task. ``child_run_ids`` links runs started by the task.
    """

    output: dict[str, Any] = field(default_factory=dict)
    condition_outcome: str | None = None
    child_run_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SpecIssue:
    """One problem a task type found in its settings while validating (no side effects)."""

    field: str
    message: str


@dataclass(frozen=True)
class TaskType:
    """A kind of task, owned by a plugin.

    Attributes:
        key: the job-spec key it owns, e.g. ``"notebook_task"``.
        settings_model: pydantic model of the block under ``key``.
        run: called on the task's worker thread with the live context and the
            parsed settings (string fields already have ``{{...}}`` resolved when
            ``resolve_references`` is true). Raise to fail the attempt; return a
            ``TaskOutput`` (or ``None``).
        needs_spark: whether the run's shared SparkSession must exist before ``run``.
        validate: optional static check of settings; gets the settings and the
            directory of the job file, returns issues. Must not start a JVM.
        key_value_parameters: job parameters are pushed down to tasks of this kind.
        resolve_references: resolve ``{{...}}`` in every string of the settings
            before ``run``. Control-flow kinds that resolve lazily set this False.
        parameters_field: the settings field holding the task's key-value
            parameters (``base_parameters``, ``parameters``, ``named_parameters``).
            The engine puts those, resolved, with the job parameters pushed down
            (job parameters win, as in Databricks) into ``ctx.parameters``.
    """

    key: str
    settings_model: type[BaseModel]
    run: Callable[["TaskContext", Any], TaskOutput | None]
    needs_spark: bool = False
    validate: Callable[[Any, Path], list[SpecIssue]] | None = None
    key_value_parameters: bool = False
    resolve_references: bool = True
    parameters_field: str | None = None
    description: str = ""


class TaskFailed(Exception):
    """Raise from ``TaskType.run`` to fail the attempt but still record ``output``."""

    def __init__(self, message: str, output: TaskOutput | None = None) -> None:
        super().__init__(message)
        self.output = output or TaskOutput()
