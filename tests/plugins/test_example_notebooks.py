"""The example notebooks in notebooks/ run as their job says, on the shared Spark session."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.config import Workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager

pytestmark = pytest.mark.spark
EXAMPLES = Path(__file__).resolve().parents[2] / "notebooks"


def test_example_notebooks_job_runs(spark, spark_workspace: Workspace) -> None:  # noqa: ANN001
    # The session's /Volumes mapping is spark_workspace's, so the notebooks' dbutils.fs and Spark
    # readers must see the same workspace.
    engine = Engine.open(spark_workspace, build_plugin_manager())
    try:
        run = engine.submit(str(EXAMPLES / "examples.job.yml"))
        assert run["state"]["result_state"] == "SUCCESS", [(t["task_key"], t["state"]) for t in run["tasks"]]
        exits = {r.task_key: r.output["notebook_output"]["result"]
                 for r in engine.store.task_runs(run["run_id"])}
        assert exits == {"getting_started": "55", "ingest_files": "6 orders (upstream total 55)"}
        assert spark.table("main.examples.orders").schema["order_id"].dataType.typeName() == "long"
    finally:
        spark.sql("DROP SCHEMA IF EXISTS main.examples CASCADE")
        engine.store.close()
