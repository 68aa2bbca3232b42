"""``lakeloom validate`` checks of a job's compute: ``job_clusters``, ``job_cluster_key``,
``new_cluster`` and ``existing_cluster_id``. No JVM.

Unknown ``job_cluster_key`` values are errors (as on Databricks); fields lakeloom cannot honour
are warnings naming the field. With the workspace config, what ``compute`` makes of a cluster
(node types not in ``compute.node_types``, what a local master ignores, clusters that
``compute.clusters`` does not name) is reported too.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lakeloom.config import ConfigError
from lakeloom.runtime.compute import cluster_from_spec, cluster_key_of, compute_settings
from lakeloom.spec.clusters import ClusterSpec, unsupported_field_notes
from lakeloom.spec.loader import LoadedJob, SpecError

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.runtime.compute import ComputeSettings
    from lakeloom.spec.models import Task


def check_compute(loaded: LoadedJob, workspace: Workspace | None = None) -> list[SpecError]:
    """Every compute problem of ``loaded`` (warnings with severity='warning')."""
    src, job = str(loaded.source), loaded.job
    out: list[SpecError] = []
    compute: ComputeSettings | None = None
    uses_compute = bool(job.job_clusters) or any(cluster_key_of(t) for t in job.tasks)
    if workspace is not None and uses_compute:
        try:
            compute = compute_settings(workspace)
        except ConfigError as e:
            out.append(SpecError(src, None, str(e), field="compute"))
    for i, jc in enumerate(job.job_clusters):
        path = ("job_clusters", i, "new_cluster")
        out += _spec_notes(loaded, jc.new_cluster, path, f"job_clusters[{i}].new_cluster", None, compute,
                           f"job cluster {jc.job_cluster_key!r}")
    for i, task in enumerate(job.tasks):
        out += _task_compute(loaded, task, ("tasks", i), compute)
        nested = (task.task_blocks.get("for_each_task") or {}).get("task") if "for_each_task" in task.task_blocks \
            else None
        if isinstance(nested, dict):
            from lakeloom.spec.models import Task as TaskModel

            try:
                inner = TaskModel.model_validate(nested)
            except ValueError:
                continue  # reported with the for_each_task's settings
            out += _task_compute(loaded, inner, ("tasks", i, "for_each_task", "task"), compute,
                                 prefix="for_each_task.task.", owner=task.task_key)
    return out


def _task_compute(loaded: LoadedJob, task: Task, path: tuple[Any, ...], compute: ComputeSettings | None,
                  prefix: str = "", owner: str | None = None) -> list[SpecError]:
    src, job = str(loaded.source), loaded.job
    key = owner or task.task_key
    if task.job_cluster_key is not None and job.job_cluster(task.job_cluster_key) is None:
        known = ", ".join(repr(c.job_cluster_key) for c in job.job_clusters) or "none"
        return [SpecError(src, loaded.line_of(*path, "job_cluster_key"),
                          f"job_cluster_key {task.job_cluster_key!r} names no entry of job_clusters (known: {known})",
                          key, f"{prefix}job_cluster_key")]
    if task.new_cluster is not None:
        return _spec_notes(loaded, task.new_cluster, path + ("new_cluster",), f"{prefix}new_cluster", key, compute,
                           f"new_cluster of task {task.task_key!r}")
    if task.existing_cluster_id is not None and compute is not None:
        configured = compute.clusters.get(task.existing_cluster_id)
        if configured is None:
            return [SpecError(src, loaded.line_of(*path, "existing_cluster_id"),
                              f"existing_cluster_id {task.existing_cluster_id!r} is not in compute.clusters "
                              "(conf/lakeloom.yml): the task uses the run's Spark session", key,
                              f"{prefix}existing_cluster_id", severity="warning")]
    return []


def _spec_notes(loaded: LoadedJob, spec: ClusterSpec, path: tuple[Any, ...], field: str, task_key: str | None,
                compute: ComputeSettings | None, label: str) -> list[SpecError]:
    src = str(loaded.source)
    out: list[SpecError] = []
    for name, reason in unsupported_field_notes(spec):
        first = name.split(".", 1)[0]
        out.append(SpecError(src, loaded.line_of(*path, first), f"ignored locally: {reason}", task_key,
                             f"{field}.{name}", severity="warning"))
    if compute is not None:
        for note in cluster_from_spec("", label, spec, compute).notes:
            name = re.split(r"[\s:]", note, maxsplit=1)[0]  # every note starts with the field it is about
            sub = (name,) if name in ClusterSpec.model_fields else ()
            out.append(SpecError(src, loaded.line_of(*path, *sub), note, task_key,
                                 f"{field}.{name}" if sub else field, severity="warning"))
    return out
