"""Where a task's Spark application runs: ``compute`` in conf/lakeloom.yml and the mapping of a
cluster spec (``new_cluster``) to Spark settings.

``conf/lakeloom.yml``::

    compute:
      master: "spark://host:7077"          # job clusters' master (default: spark.master)
      node_types:                          # node_type_id / driver_node_type_id -> size
        m5.xlarge: {cores: 4, memory: 16g}
      clusters:                            # existing_cluster_id -> a long-lived master
        my-cluster: {master: "spark://127.0.0.1:7077", spark_conf: {...}, spark_env_vars: {...}}

Importing this module does not import pyspark.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeloom.config import ConfigError
from lakeloom.spec.clusters import RESERVED_ENV_VARS, ClusterSpec

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.spec.models import Job, Task

_MEMORY = re.compile(r"^\d+[kmgt]?$", re.IGNORECASE)


def is_local_master(master: str) -> bool:
    """``local``, ``local[4]``, ``local[*]``, ``local[*, 4]``: executors live in the driver."""
    return master == "local" or master.startswith("local[")


@dataclass(frozen=True)
class NodeType:
    """A ``compute.node_types`` entry: the size of one node (executor or driver)."""

    cores: int
    memory: str


@dataclass(frozen=True)
class ComputeSettings:
    """``compute:`` of the workspace config, parsed and checked."""

    master: str
    node_types: dict[str, NodeType] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)


def compute_settings(workspace: Workspace) -> ComputeSettings:
    """``compute`` of ``workspace``; ConfigError naming the key for a bad entry."""
    raw = workspace.settings.get("compute") or {}
    where = "conf/lakeloom.yml"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: compute must be a mapping")
    node_types: dict[str, NodeType] = {}
    for name, entry in (raw.get("node_types") or {}).items():
        key = f"compute.node_types.{name}"
        if not isinstance(entry, dict) or set(entry) - {"cores", "memory"} or "cores" not in entry:
            raise ConfigError(f"{where}: {key} needs {{cores: <int>, memory: <size, e.g. 16g>}}")
        cores, memory = entry["cores"], str(entry.get("memory", "1g")).strip()
        if not isinstance(cores, int) or cores < 1:
            raise ConfigError(f"{where}: {key}.cores must be a positive integer (got {cores!r})")
        if not _MEMORY.match(memory):
            raise ConfigError(f"{where}: {key}.memory must be a size such as 512m or 16g (got {memory!r})")
        node_types[str(name)] = NodeType(cores, memory.lower())
    clusters: dict[str, dict[str, Any]] = {}
    for name, entry in (raw.get("clusters") or {}).items():
        key = f"compute.clusters.{name}"
        if not isinstance(entry, dict) or not entry.get("master"):
            raise ConfigError(f"{where}: {key} needs a master (e.g. spark://127.0.0.1:7077)")
        clusters[str(name)] = dict(entry)
    master = str(raw.get("master") or workspace.spark_master)
    return ComputeSettings(master, node_types, clusters)


@dataclass(frozen=True)
class ResolvedCluster:
    """One cluster of a run as a Spark application: its master, settings and driver environment.

    ``key`` identifies it in the run (``job_cluster:<key>``, ``new_cluster:<task_key>``,
    ``existing_cluster:<id>``); ``notes`` say what of the spec has no effect here.
    """

    key: str
    label: str
    master: str
    conf: dict[str, str]
    env: dict[str, str]
    notes: tuple[str, ...] = ()


def cluster_key_of(task: Task) -> str | None:
    """The run-wide key of the cluster ``task`` runs on; None for the run's default session.

    A ``for_each_task`` runs where its nested task runs.
    """
    if task.job_cluster_key:
        return f"job_cluster:{task.job_cluster_key}"
    if task.new_cluster is not None:
        return f"new_cluster:{task.task_key}"
    if task.existing_cluster_id:
        return f"existing_cluster:{task.existing_cluster_id}"
    nested = (task.task_blocks.get("for_each_task") or {}).get("task") if "for_each_task" in task.task_blocks else None
    if isinstance(nested, dict):
        from lakeloom.spec.models import Task as TaskModel

        try:
            return cluster_key_of(TaskModel.model_validate(nested))
        except ValueError:
            return None
    return None


def resolve_cluster(job: Job, task: Task, compute: ComputeSettings) -> ResolvedCluster | None:
    """The cluster ``task`` runs on, as a Spark application; None for the run's default session
    (no cluster, or an ``existing_cluster_id`` that ``compute.clusters`` does not name)."""
    key = cluster_key_of(task)
    if key is None:
        return None
    kind, _, name = key.partition(":")
    if kind == "job_cluster":
        jc = job.job_cluster(name)
        if jc is None:
            return None
        return cluster_from_spec(key, f"job cluster {name!r}", jc.new_cluster, compute)
    if kind == "new_cluster":
        spec = task.new_cluster
        if spec is None:  # a for_each_task whose nested task has the new_cluster
            nested = task.task_blocks["for_each_task"]["task"]
            spec = ClusterSpec.model_validate(nested["new_cluster"])
        return cluster_from_spec(key, f"new_cluster of task {name!r}", spec, compute)
    configured = compute.clusters.get(name)
    if configured is None:
        return None
    spec = ClusterSpec.model_validate({k: v for k, v in configured.items() if k != "master"})
    return cluster_from_spec(key, f"existing cluster {name!r}", spec, compute, master=str(configured["master"]))


def cluster_from_spec(key: str, label: str, spec: ClusterSpec, compute: ComputeSettings, *,
                      master: str | None = None) -> ResolvedCluster:
    """Map ``spec`` to Spark settings on ``master`` (default ``compute.master``)."""
    master = master or compute.master
    notes: list[str] = []
    conf: dict[str, str] = {k: v for k, v in spec.spark_conf.items() if k != "spark.master"}
    env = {k: v for k, v in spec.spark_env_vars.items() if k not in RESERVED_ENV_VARS}
    worker = _node(spec.node_type_id, "node_type_id", compute, notes)
    # Without driver_node_type_id the driver is a node_type_id node (reported once, above).
    driver = _node(spec.driver_node_type_id, "driver_node_type_id", compute, notes) if spec.driver_node_type_id \
        else worker
    if spec.single_node and not is_local_master(master):
        what = "is_single_node" if spec.is_single_node else "num_workers: 0 (single node)"
        notes.append(f"{what}: the application runs in local mode on the driver, not on {master}")
        master = f"local[{driver.cores}]" if driver else "local[*]"
    local = is_local_master(master)
    if driver is not None:
        conf["spark.driver.memory"] = driver.memory
        if local and master == "local[*]":
            master = f"local[{driver.cores}]"  # in local mode the driver's cores are the executors' threads
        elif not local:
            conf["spark.driver.cores"] = str(driver.cores)
    if local:
        if spec.autoscale is not None:
            notes.append(f"autoscale is ignored on {master}: dynamic allocation needs a cluster manager")
        elif spec.num_workers:
            notes.append(f"num_workers is ignored on {master}: executors run inside the driver")
        if worker is not None and not spec.single_node:
            notes.append(f"node_type_id sizes executors, which {master} does not have")
    else:
        if worker is not None:
            conf["spark.executor.cores"] = str(worker.cores)
            conf["spark.executor.memory"] = worker.memory
        conf.update(_executor_count(spec, master, worker))
        conf.update({f"spark.executorEnv.{k}": v for k, v in env.items()})
    return ResolvedCluster(key, label, master, conf, env, tuple(notes))


def _node(name: str | None, field_name: str, compute: ComputeSettings, notes: list[str]) -> NodeType | None:
    if not name:
        return None
    node = compute.node_types.get(name)
    if node is None:
        notes.append(f"{field_name} {name!r} is not in compute.node_types (conf/lakeloom.yml): its size is "
                     "left to Spark's defaults")
    return node


def _executor_count(spec: ClusterSpec, master: str, worker: NodeType | None) -> dict[str, str]:
    standalone = master.startswith("spark://")
    if spec.autoscale is not None:
        low, high = spec.autoscale.min_workers, spec.autoscale.max_workers
        out = {"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.minExecutors": str(low),
               "spark.dynamicAllocation.maxExecutors": str(high),
               "spark.dynamicAllocation.initialExecutors": str(low),
               # No external shuffle service is assumed: executors keep the shuffle files they wrote.
               "spark.dynamicAllocation.shuffleTracking.enabled": "true"}
        if standalone and worker is not None:
            out["spark.cores.max"] = str(high * worker.cores)
        return out
    if spec.num_workers:
        out = {"spark.executor.instances": str(spec.num_workers)}
        if standalone and worker is not None:
            # The standalone master sizes an application by its cores, not by an executor count.
            out["spark.cores.max"] = str(spec.num_workers * worker.cores)
        return out
    return {}
