"""``compute`` config and the mapping of cluster specs to Spark settings (no JVM)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakeloom.config import ConfigError, Workspace, load_workspace
from lakeloom.runtime.compute import ComputeSettings, NodeType, cluster_from_spec, compute_settings, resolve_cluster
from lakeloom.spec.clusters import ClusterSpec
from lakeloom.spec.models import Job

NODES = {"small": NodeType(1, "1g"), "m5.xlarge": NodeType(4, "16g")}


def _map(spec: dict, master: str = "spark://10.0.0.1:7077", **kw: object) -> tuple[str, dict, dict, tuple]:
    compute = ComputeSettings(master, NODES, {})
    spec_model = ClusterSpec.model_validate(spec)
    c = cluster_from_spec("k", "job cluster 'k'", spec_model, compute, **kw)  # type: ignore[arg-type]
    return c.master, c.conf, c.env, c.notes


def test_fixed_size_cluster_on_standalone_maps_node_types_and_workers() -> None:
    master, conf, env, notes = _map({
        "spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "driver_node_type_id": "small",
        "num_workers": 2, "spark_conf": {"spark.sql.shuffle.partitions": 16}, "spark_env_vars": {"TIER": "gold"}})
    assert master == "spark://10.0.0.1:7077"
    assert conf == {
        "spark.sql.shuffle.partitions": "16",
        "spark.driver.memory": "1g", "spark.driver.cores": "1",
        "spark.executor.cores": "4", "spark.executor.memory": "16g",
        "spark.executor.instances": "2", "spark.cores.max": "8",
        "spark.executorEnv.TIER": "gold",
    }
    assert env == {"TIER": "gold"}
    assert notes == ()


def test_autoscale_becomes_dynamic_allocation_bounds() -> None:
    _, conf, _, _ = _map({"node_type_id": "small", "autoscale": {"min_workers": 1, "max_workers": 3}},
                         master="k8s://https://10.0.0.1:6443")
    assert conf["spark.dynamicAllocation.enabled"] == "true"
    assert (conf["spark.dynamicAllocation.minExecutors"], conf["spark.dynamicAllocation.maxExecutors"]) == ("1", "3")
    assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert "spark.cores.max" not in conf  # only the standalone master sizes apps by cores
    assert "spark.executor.instances" not in conf


def test_local_master_says_what_it_ignores_and_sizes_the_driver() -> None:
    master, conf, env, notes = _map({"node_type_id": "m5.xlarge", "autoscale": {"min_workers": 1, "max_workers": 4},
                                     "spark_env_vars": {"TIER": "gold", "PYSPARK_PYTHON": "/databricks/python3"}},
                                    master="local[*]")
    assert master == "local[4]"  # the driver node's cores are local mode's threads
    assert conf == {"spark.driver.memory": "16g"}
    assert env == {"TIER": "gold"}  # PYSPARK_PYTHON stays lakeloom's interpreter
    assert any("autoscale is ignored on local[4]" in n for n in notes)
    assert any("node_type_id sizes executors" in n for n in notes)


def test_single_node_cluster_runs_in_local_mode_even_on_a_cluster_master() -> None:
    master, conf, _, notes = _map({"num_workers": 0, "node_type_id": "small",
                                   "spark_conf": {"spark.master": "local[*, 4]"}})
    assert master == "local[1]"
    assert "spark.master" not in conf
    assert any("single node" in n for n in notes)


def test_unknown_node_type_is_a_note_not_a_setting() -> None:
    _, conf, _, notes = _map({"node_type_id": "i3.xlarge", "num_workers": 2})
    assert conf == {"spark.executor.instances": "2"}
    assert any("'i3.xlarge' is not in compute.node_types" in n for n in notes)


def test_compute_settings_per_target_and_errors(tmp_path: Path) -> None:
    conf = {"spark": {"master": "local[2]"},
            "compute": {"node_types": {"small": {"cores": 1, "memory": "2G"}},
                        "clusters": {"shared": {"master": "spark://127.0.0.1:7077"}}},
            "targets": {"prod": {"compute": {"master": "yarn"}}}}
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text(yaml.safe_dump(conf))
    dev, prod = compute_settings(load_workspace(tmp_path)), compute_settings(load_workspace(tmp_path, "prod"))
    assert dev.master == "local[2]"  # compute.master defaults to spark.master
    assert prod.master == "yarn"
    assert prod.node_types == {"small": NodeType(1, "2g")}
    with pytest.raises(ConfigError, match=r"compute.node_types.big.cores must be a positive integer"):
        compute_settings(Workspace(tmp_path, {"compute": {"node_types": {"big": {"cores": "many"}}}}))
    with pytest.raises(ConfigError, match=r"compute.clusters.x needs a master"):
        compute_settings(Workspace(tmp_path, {"compute": {"clusters": {"x": {}}}}))


def test_existing_cluster_id_names_a_configured_master() -> None:
    job = Job.model_validate({"name": "j", "tasks": [
        {"task_key": "a", "existing_cluster_id": "shared", "python_task": {"function": "m:f"}},
        {"task_key": "b", "existing_cluster_id": "elsewhere", "python_task": {"function": "m:f"}}]})
    compute = ComputeSettings("local[*]", {}, {"shared": {"master": "spark://127.0.0.1:7077",
                                                          "spark_conf": {"spark.sql.shuffle.partitions": "3"}}})
    shared = resolve_cluster(job, job.tasks[0], compute)
    assert shared is not None and shared.key == "existing_cluster:shared"
    assert (shared.master, shared.conf) == ("spark://127.0.0.1:7077", {"spark.sql.shuffle.partitions": "3"})
    assert resolve_cluster(job, job.tasks[1], compute) is None  # unconfigured: the run's session
