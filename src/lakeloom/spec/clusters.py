"""Compute of a task: ``job_clusters[].new_cluster``, ``new_cluster``, ``job_cluster_key``,
``existing_cluster_id`` (Jobs API ``ClusterSpec`` field names).

lakeloom honours the fields that are Spark settings (``spark_conf``, ``spark_env_vars``,
``num_workers``, ``autoscale``, ``node_type_id``, ``driver_node_type_id``,
``is_single_node``); :mod:`lakeloom.runtime.compute` turns them into a Spark application's
configuration. Cloud and Databricks-runtime fields are accepted and reported as warnings.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakeloom.spec.parameters import param_string

#: ``ClusterSpec`` fields with no local meaning, and why (the warning's text).
UNSUPPORTED_CLUSTER_FIELDS: dict[str, str] = {
    "spark_version": "lakeloom runs its own Spark (4.2), not a Databricks Runtime version",
    "cluster_name": "applications are named by lakeloom",
    "custom_tags": "no cloud resources to tag",
    "aws_attributes": "no cloud instances are provisioned",
    "azure_attributes": "no cloud instances are provisioned",
    "gcp_attributes": "no cloud instances are provisioned",
    "instance_pool_id": "no instance pools",
    "driver_instance_pool_id": "no instance pools",
    "policy_id": "no cluster policies",
    "apply_policy_default_values": "no cluster policies",
    "enable_elastic_disk": "no cloud disks",
    "enable_local_disk_encryption": "no cloud disks",
    "total_initial_remote_disk_size": "no cloud disks",
    "remote_disk_throughput": "no cloud disks",
    "init_scripts": "no cluster nodes to initialise",
    "cluster_log_conf": "Spark's driver log goes to .lakeloom/logs",
    "ssh_public_keys": "no cluster nodes to log in to",
    "data_security_mode": "table access is governed by lakeloom's catalog",
    "single_user_name": "table access is governed by lakeloom's catalog",
    "runtime_engine": "no Photon engine",
    "docker_image": "no container images",
    "workload_type": "no workload restrictions",
    "kind": "no cluster kinds",
    "use_ml_runtime": "no Databricks ML runtime; install libraries with environments/libraries",
    "autotermination_minutes": "job cluster applications stop after their last task",
    "cluster_source": "set by Databricks",
    "cluster_id": "set by Databricks",
    "enable_serverless_compute": "no serverless compute",
}

#: Environment variables that must stay lakeloom's (Databricks templates set them to /databricks paths).
RESERVED_ENV_VARS = frozenset({"PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "JAVA_HOME", "SPARK_HOME"})


class AutoScale(BaseModel):
    """``autoscale``: dynamic allocation bounds."""

    model_config = ConfigDict(extra="forbid")

    min_workers: int = Field(ge=0)
    max_workers: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> AutoScale:
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers ({self.min_workers}) is greater than max_workers ({self.max_workers})")
        return self


class ClusterSpec(BaseModel):
    """``new_cluster``: the Spark settings of a cluster. Unknown keys are kept and warned about."""

    model_config = ConfigDict(extra="allow")

    spark_conf: dict[str, str] = Field(default_factory=dict)
    spark_env_vars: dict[str, str] = Field(default_factory=dict)
    num_workers: int | None = Field(default=None, ge=0)
    autoscale: AutoScale | None = None
    node_type_id: str | None = None
    driver_node_type_id: str | None = None
    is_single_node: bool | None = None

    @field_validator("spark_conf", "spark_env_vars", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        return {str(k): param_string(x) for k, x in v.items()} if isinstance(v, dict) else v

    @property
    def other_fields(self) -> dict[str, Any]:
        """Fields lakeloom does not honour (known Databricks ones and unknown ones)."""
        return dict(self.model_extra or {})

    @property
    def single_node(self) -> bool:
        """A driver-only cluster (``num_workers: 0`` without autoscale, or ``is_single_node``)."""
        return bool(self.is_single_node) or (self.num_workers == 0 and self.autoscale is None)


class JobCluster(BaseModel):
    """``job_clusters[]``: a cluster the job's tasks share through ``job_cluster_key``."""

    model_config = ConfigDict(extra="forbid")

    job_cluster_key: str = Field(pattern=r"^[\w\-.]{1,100}$")
    new_cluster: ClusterSpec


def unsupported_field_notes(spec: ClusterSpec) -> list[tuple[str, str]]:
    """``(field, reason)`` for every field of ``spec`` lakeloom ignores, plus ignored ``spark_conf``
    and ``spark_env_vars`` entries (sub-fields named with a dot)."""
    notes: list[tuple[str, str]] = []
    for name in spec.other_fields:
        notes.append((name, UNSUPPORTED_CLUSTER_FIELDS.get(name, "not a ClusterSpec field lakeloom knows")))
    if "spark.master" in spec.spark_conf:
        notes.append(("spark_conf.spark.master", "the master comes from compute.master (conf/lakeloom.yml)"))
    for name in sorted(set(spec.spark_env_vars) & RESERVED_ENV_VARS):
        notes.append((f"spark_env_vars.{name}", "lakeloom's own interpreter and Spark are used"))
    if spec.autoscale is not None and spec.num_workers is not None:
        notes.append(("num_workers", "autoscale is set, so num_workers is ignored"))
    return notes
