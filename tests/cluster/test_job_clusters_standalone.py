"""Job clusters on the real standalone cluster: an ``existing_cluster_id`` finds its master in
``compute.clusters`` and becomes an application of its own there, with ``autoscale`` as dynamic
allocation bounds and a node type as the executors' size.

The engine runs in the test process; the cluster's application runs in a cluster process (its
master is not the workspace's), so the process's own Spark session, if any, is untouched."""
from __future__ import annotations

import sys
import textwrap
from typing import Any

import pytest

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.runtime.standalone import ClusterInfo

from cluster_helpers import master_json

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1200)]

TASKS = '''
from lakeloom import context


def on_cluster() -> dict:
    ctx = context()
    spark = ctx.spark
    conf = spark.sparkContext.getConf()
    rows = spark.range(0, 100_000, numPartitions=4).selectExpr("sum(id)").collect()[0][0]
    seen = {"app": spark.sparkContext.applicationId, "name": spark.sparkContext.appName,
            "master": spark.sparkContext.master, "sum": rows,
            "dynamic": conf.get("spark.dynamicAllocation.enabled", None),
            "max_executors": conf.get("spark.dynamicAllocation.maxExecutors", None),
            "executor_memory": conf.get("spark.executor.memory", None),
            "executors": spark.sparkContext._jsc.sc().getExecutorIds().size(),
            "marker": spark.conf.get("spark.lakeloom.test.cluster", None)}
    for k, v in seen.items():
        ctx.task_values.set(k, v)
    return seen

'''


@pytest.fixture(scope="module")
def cluster_task(tmp_path_factory: pytest.TempPathFactory, standalone_cluster: ClusterInfo) -> dict[str, Any]:
    """One run, one task on ``existing_cluster_id: standalone``, which compute.clusters gives
    the cluster's master, autoscale bounds and a node type (one application: JVMs are dear here)."""
    root = tmp_path_factory.mktemp("job-clusters-standalone")
    (root / "conf").mkdir()
    (root / "conf" / "lakeloom.yml").write_text(textwrap.dedent(f"""
        spark: {{master: "local[1]"}}
        compute:
          node_types: {{small: {{cores: 1, memory: 512m}}}}
          clusters:
            standalone:
              master: "{standalone_cluster.master_url}"
              node_type_id: small
              autoscale: {{min_workers: 1, max_workers: 2}}
              spark_conf: {{spark.lakeloom.test.cluster: standalone}}
        """))
    (root / "jc_tasks.py").write_text(TASKS)
    (root / "job.yml").write_text(textwrap.dedent("""
        name: standalone-job-cluster
        tasks:
          - task_key: on_cluster
            existing_cluster_id: standalone
            python_task: {function: "jc_tasks:on_cluster"}
        """))
    sys.path.insert(0, str(root))
    engine = Engine.open(load_workspace(root))
    try:
        run = engine.submit(str(root / "job.yml"))
        values = engine.store.task_values(run["run_id"])
    finally:
        engine.store.close()
        sys.path.remove(str(root))
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    return values


def test_an_existing_cluster_is_an_application_on_its_master_with_autoscale_and_node_type(
        cluster_task: dict[str, Any], standalone_cluster: ClusterInfo) -> None:
    seen = cluster_task["on_cluster"]
    assert seen["master"] == standalone_cluster.master_url and seen["marker"] == "standalone"
    assert (seen["dynamic"], seen["max_executors"], seen["executor_memory"]) == ("true", "2", "512m")
    assert seen["executors"] >= 1 and seen["sum"] == sum(range(100_000))  # executors on the workers did it
    apps = {a["name"] for a in master_json(standalone_cluster).get("completedapps", [])}
    assert seen["name"] in apps  # the master ran it as an application of its own, stopped after the task

