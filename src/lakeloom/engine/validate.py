"""Static validation of jobs: everything ``lakeloom validate`` checks, without a JVM."""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from lakeloom.engine.validate_clusters import check_compute
from lakeloom.spec.bundle_refs import bundle_resource_key
from lakeloom.spec.graph import ancestors, find_cycle, upstream_map
from lakeloom.spec.loader import JobSpecError, LoadedJob, SpecError, load_job_documents, validation_errors
from lakeloom.spec.models import Task

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_manager import LakeloomPluginManager


def parse_settings(task: Task, pm: LakeloomPluginManager) -> BaseModel:
    """The task's ``*_task`` block parsed with its plugin's settings model."""
    return pm.task_types[task.kind].settings_model.model_validate(task.settings_raw)


#: Databricks task kinds that need a Databricks service (named in the error when no plugin has them).
CLOUD_ONLY_TASKS = {
    "dbt_task": "runs dbt through the dbt-databricks adapter on a Databricks SQL warehouse",
    "alert_task": "evaluates a Databricks SQL alert",
    "power_bi_task": "publishes to Power BI through a Databricks connection",
    "clean_rooms_notebook_task": "runs a notebook in a Databricks Clean Room",
    "gen_ai_compute_task": "runs on Databricks GPU serverless compute",
}


def validate_loaded(loaded: LoadedJob, pm: LakeloomPluginManager,
                    workspace: Workspace | None = None) -> list[SpecError]:
    """Every problem in one parsed job (warnings included, with severity='warning').

    With ``workspace``, compute is also checked against its ``compute`` config.
    """
    job, src = loaded.job, str(loaded.source)
    errors: list[SpecError] = check_compute(loaded, workspace)
    for name in job.ignored_fields:
        errors.append(SpecError(src, loaded.line_of(name), "Databricks-only field ignored locally",
                                field=name, severity="warning"))
    keys: dict[str, int] = {}
    for i, task in enumerate(job.tasks):
        if task.task_key in keys:
            errors.append(SpecError(src, loaded.line_of("tasks", i, "task_key"),
                                    f"duplicate task key (first defined as task #{keys[task.task_key] + 1})",
                                    task.task_key, "task_key"))
        else:
            keys[task.task_key] = i
    if job.schedule is not None:
        from lakeloom.spec.cron import CronError, validate as validate_cron, zone

        sched = job.schedule
        for field, check in (("quartz_cron_expression", lambda: validate_cron(sched.quartz_cron_expression)),
                             ("timezone_id", lambda: zone(sched.timezone_id))):
            try:
                check()
            except CronError as e:
                errors.append(SpecError(src, loaded.line_of("schedule", field), str(e), field=f"schedule.{field}"))
    by_key = {t.task_key: t for t in job.tasks}
    for i, task in enumerate(job.tasks):
        errors.extend(_check_task(loaded, pm, task, ("tasks", i), by_key))
    cycle = find_cycle(job)
    if cycle:
        errors.append(SpecError(src, loaded.task_line(cycle[0], "depends_on"),
                                "dependency cycle: " + " -> ".join(cycle), cycle[0], "depends_on"))
    elif not [e for e in errors if e.severity == "error"]:
        errors.extend(_check_references(loaded, pm))
    return errors


def _check_dependencies(loaded: LoadedJob, task: Task, path: tuple[Any, ...]) -> list[SpecError]:
    """``environment_key`` names an environment; local files exist; no requirement replaces
    lakeloom's pins (checked here, without pip, so ``validate`` catches it)."""
    from lakeloom.runtime.environments import DependencyError, PinConflict, resolve, task_dependency_lines

    src = str(loaded.source)
    job = loaded.job
    if task.environment_key is not None and job.environment(task.environment_key) is None:
        known = ", ".join(e.environment_key for e in job.environments) or "none"
        return [SpecError(src, loaded.line_of(*path, "environment_key"),
                          f"environment_key {task.environment_key!r} names no entry of environments (known: {known})",
                          task.task_key, "environment_key")]
    try:
        resolve(task_dependency_lines(job, task, loaded.base_dir))
    except DependencyError as e:
        field = "libraries" if "libraries[" in str(e).split(":", 1)[0] else "environment_key"
        # A wheel an artifact build makes may not exist yet: only a pin conflict is an error here.
        severity = "error" if isinstance(e, PinConflict) else "warning"
        return [SpecError(src, loaded.line_of(*path, field), str(e), task.task_key, field, severity=severity)]
    return []


def _check_task(loaded: LoadedJob, pm: LakeloomPluginManager, task: Task, path: tuple[Any, ...],
                by_key: dict[str, Task], nested: bool = False) -> list[SpecError]:
    src = str(loaded.source)
    out: list[SpecError] = []

    def err(msg: str, field: str | None, *sub: Any) -> None:
        out.append(SpecError(src, loaded.line_of(*path, *sub), msg, task.task_key, field))

    for name in task.ignored_fields:
        out.append(SpecError(src, loaded.line_of(*path, name), "Databricks-only field ignored locally",
                             task.task_key, name, severity="warning"))
    if not nested:
        for j, dep in enumerate(task.depends_on):
            field = f"depends_on[{j}].task_key"
            if dep.task_key not in by_key:
                err(f"depends on unknown task {dep.task_key!r}", field, "depends_on", j)
            elif dep.task_key == task.task_key:
                err("a task cannot depend on itself", field, "depends_on", j)
            elif dep.outcome is not None and _kind(by_key[dep.task_key]) != "condition_task":
                err(f"'outcome' is only allowed on a dependency on a condition_task ({dep.task_key!r} is not one)",
                    f"depends_on[{j}].outcome", "depends_on", j, "outcome")
    out.extend(_check_dependencies(loaded, task, path))
    blocks = list(task.task_blocks)
    if len(blocks) != 1:
        kinds = ", ".join(sorted(pm.task_types))
        msg = ("no task type: add exactly one *_task block" if not blocks
               else f"exactly one *_task block allowed, found {', '.join(blocks)}")
        err(f"{msg} (installed kinds: {kinds})", "*_task", *(blocks[1:2] or []))
        return out
    kind = blocks[0]
    if kind not in pm.task_types:
        cloud = CLOUD_ONLY_TASKS.get(kind)
        err(f"{kind} is cloud-only: it {cloud}, which lakeloom cannot run locally (no plugin provides it)"
            if cloud else f"unknown task kind {kind!r}; installed kinds: {', '.join(sorted(pm.task_types))}",
            kind, kind)
        return out
    tt = pm.task_types[kind]
    raw = task.settings_raw
    if raw is None:
        raw = {}
    try:
        settings = tt.settings_model.model_validate(raw)
    except ValidationError as e:
        for se in validation_errors(e, src, {}, loaded.lines, loaded.prefix + path + (kind,)):
            out.append(SpecError(src, se.line, se.message, task.task_key, f"{kind}.{se.field}" if se.field else kind))
        return out
    if tt.validate is not None:
        for issue in tt.validate(settings, loaded.base_dir):
            err(issue.message, f"{kind}.{issue.field}", kind, *_field_path(issue.field))
    ref_key = bundle_resource_key(getattr(settings, "job_id", None), "jobs") if kind == "run_job_task" else None
    if ref_key is not None and ref_key not in _bundle_job_keys(loaded):
        out.append(SpecError(src, loaded.line_of(*path, kind, "job_id"),
                             f"this file has no job with key {ref_key!r}; the run will look for it among the "
                             "workspace's jobs", task.task_key, f"{kind}.job_id", severity="warning"))
    nested_task = getattr(settings, "task", None)
    if kind == "for_each_task" and isinstance(nested_task, Task):
        if nested_task.task_blocks.keys() == {"for_each_task"}:
            err("a for_each_task cannot contain another for_each_task", f"{kind}.task", kind, "task")
        else:
            out.extend(_check_task(loaded, pm, nested_task, path + (kind, "task"), by_key, nested=True))
    return out


def _field_path(field: str) -> tuple[str | int, ...]:
    """``expectations[2].expect_x.min_value`` -> ``("expectations", 2, "expect_x", "min_value")``:
    the YAML path of a field a plugin's issue names, for its line."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"\.|\[(\d+)\]", field) if p)


def _bundle_job_keys(loaded: LoadedJob) -> set[str]:
    """The job keys of the file ``loaded`` came from (a bundle file has several)."""
    try:
        stat = loaded.source.stat()
    except OSError:
        return set()
    return set(_job_keys_of(str(loaded.source), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=64)
def _job_keys_of(path: str, _mtime_ns: int, _size: int) -> frozenset[str]:
    # Keyed on the file's mtime and size: validating a bundle of N jobs with run_job_tasks read
    # the whole file once per task, which made validation quadratic.
    try:
        return frozenset(d.key for d in load_job_documents(path) if d.key)
    except (JobSpecError, OSError):
        return frozenset()


def _kind(task: Task) -> str | None:
    blocks = list(task.task_blocks)
    return blocks[0] if len(blocks) == 1 else None


def _strings(obj: Any, field: str = "", path: tuple[Any, ...] = ()) -> list[tuple[str, tuple[Any, ...], str]]:
    """Every string holding ``{{`` in ``obj``: (field name, YAML path below the block, text)."""
    if isinstance(obj, str):
        return [(field, path, obj)] if "{{" in obj else []
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in _strings(v, f"{field}.{k}" if field else str(k), path + (k,))]
    if isinstance(obj, list):
        return [s for i, v in enumerate(obj) for s in _strings(v, f"{field}[{i}]", path + (i,))]
    return []


class _LazyAncestors:
    """``in`` test on a task's ancestors, computed only if a reference names another task."""

    def __init__(self, job: Any, key: str, up: dict[str, list[str]]) -> None:
        self._args = (job, key, up)
        self._set: set[str] | None = None

    def __contains__(self, item: object) -> bool:
        if self._set is None:
            self._set = ancestors(*self._args)
        return item in self._set


def _check_references(loaded: LoadedJob, pm: LakeloomPluginManager) -> list[SpecError]:
    from lakeloom.runtime import references

    job = loaded.job
    task_keys = {t.task_key for t in job.tasks}
    params = {p.name for p in job.parameters}
    out: list[SpecError] = []
    up = upstream_map(job)  # built once: rebuilding it per task made validation quadratic
    for i, task in enumerate(job.tasks):
        kind = task.kind
        blocks = [(kind, (kind,), task.settings_raw, False)]
        if kind == "for_each_task" and isinstance(task.settings_raw, dict):
            inner = dict(task.settings_raw)
            nested = inner.pop("task", None)
            blocks = [(kind, (kind,), inner, False)]
            if isinstance(nested, dict):
                blocks.append((f"{kind}.task", (kind, "task"), nested, True))
        strings = [(prefix, yaml_path, in_for_each, found) for prefix, yaml_path, block, in_for_each in blocks
                   for found in _strings(block)]
        if not strings:
            continue
        upstream = _LazyAncestors(job, task.task_key, up)
        for prefix, yaml_path, in_for_each, (field, sub, text) in strings:
            for msg in references.check(text, task_keys=task_keys, job_parameter_names=params,
                                        in_for_each=in_for_each, upstream_of=cast(set[str], upstream)):
                out.append(SpecError(str(loaded.source), loaded.line_of("tasks", i, *yaml_path, *sub),
                                     msg, task.task_key, f"{prefix}.{field}"))
    return out


def validate_file(path: str | Path, pm: LakeloomPluginManager,
                  workspace: Workspace | None = None) -> tuple[list[LoadedJob], list[SpecError]]:
    """Load and check every job of a file; never raises for user errors."""
    try:
        docs = load_job_documents(path)
    except JobSpecError as e:
        return [], e.errors
    errors: list[SpecError] = []
    for d in docs:
        errors.extend(validate_loaded(d, pm, workspace))
    return docs, errors


def require_valid(loaded: LoadedJob, pm: LakeloomPluginManager, workspace: Workspace | None = None) -> list[SpecError]:
    """Raise JobSpecError when the job has errors; return its warnings."""
    problems = validate_loaded(loaded, pm, workspace)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise JobSpecError(errors)
    return problems
