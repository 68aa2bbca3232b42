"""Built-in plugin: ``run_job_task: {job_id | job_name, job_parameters}``.

``job_id`` is a stored job's id or, as in a bundle, ``${resources.jobs.<key>.id}``: the job
with that key in the running job's own file, else in the workspace.

The child job runs as a separate run linked both ways (its ``parent_run_id`` is this
run; this task's output has ``run_job_output.run_id``), sharing the Spark session. As for
every key-value task on Databricks, the running job's parameters are pushed down: they set the
child job's parameters of the same names (over ``job_parameters``).
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskContext, TaskFailed, TaskOutput, TaskType
from lakeloom.spec.bundle_refs import bundle_resource_key
from lakeloom.spec.models import Strict
from lakeloom.spec.parameters import coerce_param_map


class RunJobTask(Strict):
    job_id: int | str | None = None
    job_name: str | None = None
    job_parameters: dict[str, str] = Field(default_factory=dict)

    @field_validator("job_id", mode="before")
    @classmethod
    def _id_or_bundle_ref(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip().isdigit():
            if bundle_resource_key(v, "jobs") is None:
                raise ValueError(f"job_id must be a job id or ${{resources.jobs.<key>.id}}, not {v!r}")
            return v.strip()
        return int(v) if isinstance(v, str) else v

    @field_validator("job_parameters", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        return coerce_param_map(v)

    @model_validator(mode="after")
    def _one_ref(self) -> RunJobTask:
        if (self.job_id is None) == (self.job_name is None):
            raise ValueError("run_job_task needs exactly one of job_id or job_name")
        return self


def _same_file_job(ctx: TaskContext, key: str) -> Any:
    """The job ``key`` of the bundle file the running job came from, if it has one."""
    from pathlib import Path

    from lakeloom.spec.loader import JobSpecError, load_job_file

    stored = ctx.services.engine.store.get_job(ctx.job_id)
    source = Path(stored.source) if stored is not None and stored.source else None
    if source is None or not source.is_file():
        return None
    try:
        return load_job_file(source, key)
    except JobSpecError:
        return None


def _run(ctx: TaskContext, settings: RunJobTask) -> TaskOutput:
    ref: Any
    if settings.job_name is not None:
        ref = settings.job_name
    elif isinstance(settings.job_id, str):
        key = bundle_resource_key(settings.job_id, "jobs") or settings.job_id
        ref = _same_file_job(ctx, key) or key
    else:
        ref = int(settings.job_id or 0)
    child = ctx.services.run_child_job(ctx, ref, settings.job_parameters, pushed_down=dict(ctx.job_parameters))
    label = settings.job_name or settings.job_id
    print(f"child run {child.run_id} of {label!r} ended {child.result_state}")
    output = {"run_job_output": {"run_id": child.run_id}}
    if child.result_state not in ("SUCCESS", "SUCCESS_WITH_FAILURES"):
        raise TaskFailed(f"child run {child.run_id} of job {label!r} ended {child.result_state}: "
                         f"{child.state_message}", TaskOutput(output=output, child_run_ids=[child.run_id]))
    return TaskOutput(output=output, child_run_ids=[child.run_id])


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    return [TaskType("run_job_task", RunJobTask, _run, key_value_parameters=False,
                     description="run another job as a child run")]
