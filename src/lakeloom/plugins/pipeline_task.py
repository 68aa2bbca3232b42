"""Built-in plugin: ``pipeline_task`` — run an update of a declarative Delta pipeline.

``pipeline_task: {pipeline_id | pipeline, full_refresh, refresh_selection,
full_refresh_selection}``. The pipeline is a key or name under ``resources.pipelines`` of a
YAML file next to the job (the same bundle file included), a path to a ``*.pipeline.yml``
(``path::key`` picks one of a bundle's pipelines), or a pipeline of the workspace's
``pipelines/*`` packages. The update shares the run's SparkSession; its datasets land in the
pipeline's ``catalog.schema`` where the job's other tasks read them.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import SpecIssue, TaskFailed, TaskOutput, TaskType
from lakeloom.spec.models import Strict

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext


class PipelineTask(Strict):
    """The ``pipeline_task`` block (Jobs API fields plus lakeloom's refresh selections)."""

    pipeline_id: str | None = None
    pipeline: str | None = None
    full_refresh: bool = False
    refresh_selection: list[str] = Field(default_factory=list)
    full_refresh_selection: list[str] = Field(default_factory=list)

    @field_validator("refresh_selection", "full_refresh_selection", mode="before")
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @model_validator(mode="after")
    def _one_ref(self) -> PipelineTask:
        if (self.pipeline_id is None) == (self.pipeline is None):
            raise ValueError("pipeline_task needs exactly one of pipeline_id or pipeline")
        if self.full_refresh and self.full_refresh_selection:
            raise ValueError("full_refresh and full_refresh_selection cannot be combined")
        return self

    @property
    def ref(self) -> str:
        """What names the pipeline: a bundle reference ``${resources.pipelines.<key>.id}``
        stands for ``<key>``."""
        from lakeloom.spec.bundle_refs import bundle_resource_key

        value = self.pipeline_id if self.pipeline_id is not None else self.pipeline
        return bundle_resource_key(value, "pipelines") or str(value)


def _validate(settings: PipelineTask, base_dir: Path) -> list[SpecIssue]:
    from lakeloom.pipelines.spec import load_pipeline
    from lakeloom.spec.loader import JobSpecError

    field = "pipeline_id" if settings.pipeline_id is not None else "pipeline"
    try:
        loaded = load_pipeline(settings.ref, base_dir=base_dir)
        loaded.library_files()
    except JobSpecError as e:
        return [SpecIssue(field, err.message if err.file == settings.ref else err.format()) for err in e.errors]
    return []


def _run(ctx: TaskContext, settings: PipelineTask) -> TaskOutput:
    from lakeloom.pipelines.runner import PipelineUpdateFailed, UpdateOptions, iter_results, run_update
    from lakeloom.pipelines.spec import load_pipeline
    from lakeloom.spec.loader import JobSpecError

    try:
        loaded = load_pipeline(settings.ref, base_dir=ctx.base_dir, workspace=ctx.workspace)
    except JobSpecError as e:
        raise TaskFailed(f"pipeline {settings.ref!r}: {e}") from None
    options = UpdateOptions(full_refresh=settings.full_refresh, refresh_selection=settings.refresh_selection,
                            full_refresh_selection=settings.full_refresh_selection)
    print(f"pipeline {loaded.spec.name} ({loaded.label}) -> {loaded.spec.catalog}.{loaded.spec.schema_name}")
    try:
        result = run_update(ctx.spark, loaded, ctx.workspace, options, cancel=ctx.cancel_event)
    except PipelineUpdateFailed as e:
        _print(iter_results(e.result))
        raise TaskFailed(str(e), TaskOutput(output={"pipeline_output": e.result.as_output()})) from None
    _print(iter_results(result))
    print(f"update {result.update_id} {result.status} in {result.seconds:.1f}s")
    return TaskOutput(output={"pipeline_output": result.as_output()})


def _print(results: Any) -> None:
    for d in results:
        line = f"  {d.name:<32} {d.kind:<18} {d.status:<10} {d.rows_written:>8} rows"
        print(line + (f"  {d.error}" if d.error else ""))


PIPELINE_TASK = TaskType(
    key="pipeline_task",
    settings_model=PipelineTask,
    run=_run,
    needs_spark=True,
    validate=_validate,
    description="update a declarative Delta pipeline (pyspark.pipelines / dlt / SQL)",
)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """The ``pipeline_task`` task type."""
    return [PIPELINE_TASK]
