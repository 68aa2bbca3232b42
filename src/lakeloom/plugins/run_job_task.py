"""Built-in plugin: ``run_job_task: {job_id | job_name, job_parameters}``.

The child job runs as a separate run linked both ways (its ``parent_run_id`` is this
run; this task's output has ``run_job_output.run_id``), sharing the Spark session.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from lakeloom.hookspecs import hookimpl
from lakeloom.runtime.context import TaskContext
from lakeloom.spec.models import Strict
from lakeloom.spec.tasktype import TaskFailed, TaskOutput, TaskType


class RunJobTask(Strict):
    job_id: int | None = None
    job_name: str | None = None
    job_parameters: dict[str, str] = Field(default_factory=dict)

    @field_validator("job_parameters", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ("true" if x is True else "false" if x is False else str(x)) for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _one_ref(self) -> RunJobTask:
        if (self.job_id is None) == (self.job_name is None):
            raise ValueError("run_job_task needs exactly one of job_id or job_name")
        return self


def _run(ctx: TaskContext, settings: RunJobTask) -> TaskOutput:
    ref: str | int = settings.job_name if settings.job_name is not None else int(settings.job_id or 0)
    child = ctx.services.run_child_job(ctx, ref, settings.job_parameters)
    print(f"child run {child.run_id} of {ref!r} ended {child.result_state}")
    output = {"run_job_output": {"run_id": child.run_id}}
    if child.result_state not in ("SUCCESS", "SUCCESS_WITH_FAILURES"):
        raise TaskFailed(f"child run {child.run_id} of job {ref!r} ended {child.result_state}: "
                         f"{child.state_message}", TaskOutput(output=output, child_run_ids=[child.run_id]))
    return TaskOutput(output=output, child_run_ids=[child.run_id])


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    return [TaskType("run_job_task", RunJobTask, _run, key_value_parameters=False,
                     description="run another job as a child run")]
