"""A bundle target's ``cluster_id`` moves tasks onto that existing cluster (the CLI's
OverrideCompute), which lakeloom finds in ``compute.clusters``. No JVM."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.bundle import load_bundle
from lakeloom.runtime.compute import ComputeSettings, resolve_cluster
from bundle_files import write

BUNDLE = """
bundle: {name: compute}
targets:
  dev:
    default: true
    mode: development
    cluster_id: shared-dev
  prod:
    mode: production
resources:
  jobs:
    etl:
      name: etl
      job_clusters:
        - job_cluster_key: main
          new_cluster: {num_workers: 2, spark_conf: {spark.sql.shuffle.partitions: "64"}}
      tasks:
        - task_key: clustered
          job_cluster_key: main
          python_task: {function: "m:f"}
        - task_key: own
          new_cluster: {num_workers: 1}
          python_task: {function: "m:f"}
        - task_key: plain
          python_task: {function: "m:f"}
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKELOOM_USER_NAME", "ada@example.com")
    monkeypatch.delenv("DATABRICKS_BUNDLE_TARGET", raising=False)
    monkeypatch.delenv("DATABRICKS_CLUSTER_ID", raising=False)


def test_target_cluster_id_overrides_the_compute_of_tasks_that_name_one(tmp_path: Path) -> None:
    root = write(tmp_path / "b", {"databricks.yml": BUNDLE})
    job = load_bundle(root).jobs["etl"].job
    tasks = {t.task_key: t for t in job.tasks}
    assert (tasks["clustered"].existing_cluster_id, tasks["clustered"].job_cluster_key) == ("shared-dev", None)
    assert (tasks["own"].existing_cluster_id, tasks["own"].new_cluster) == ("shared-dev", None)
    assert tasks["plain"].existing_cluster_id is None  # it named no compute
    compute = ComputeSettings("local[*]", {}, {"shared-dev": {"master": "spark://127.0.0.1:7077"}})
    cluster = resolve_cluster(job, tasks["clustered"], compute)
    assert cluster is not None and cluster.master == "spark://127.0.0.1:7077"
    prod = load_bundle(root, target="prod").jobs["etl"].job
    assert prod.tasks[0].job_cluster_key == "main" and prod.tasks[0].existing_cluster_id is None


def test_databricks_cluster_id_counts_only_in_development_mode(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path / "b", {"databricks.yml": BUNDLE.replace("    cluster_id: shared-dev\n", "")})
    monkeypatch.setenv("DATABRICKS_CLUSTER_ID", "from-env")
    assert load_bundle(root).jobs["etl"].job.tasks[0].existing_cluster_id == "from-env"
    prod = load_bundle(root, target="prod")
    assert prod.jobs["etl"].job.tasks[0].existing_cluster_id is None
    assert any("DATABRICKS_CLUSTER_ID variable is set but is ignored" in w.message for w in prod.warnings)
