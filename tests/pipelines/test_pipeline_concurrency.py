"""Independent flows of an update run concurrently (real Spark + Delta), capped by
``maxConcurrentFlows``, each in its own FAIR pool, with failures attributed to their flow.

Concurrency is shown without timing: two flows meet at a ``threading.Barrier`` that only
opens when both run at the same time (a sequential runner breaks it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_helpers import write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.concurrency import FlowSlots, max_concurrent_flows
from lakeloom.pipelines.eventlog import read_events
from lakeloom.pipelines.model import PipelineDefinitionError
from lakeloom.pipelines.runner import PipelineUpdateFailed, run_update

pytestmark = pytest.mark.spark

FLOWS = {
    "src/flows.py": """
        import threading

        from pyspark import pipelines as dp
        from pyspark.sql import functions as F

        MEET = threading.Barrier(2, timeout=float(spark.conf.get("test.meet_seconds")))

        def _pool():
            return spark.sparkContext.getLocalProperty("spark.scheduler.pool")

        @dp.materialized_view
        def base():
            return spark.range(10).withColumn("v", F.col("id") * 2)

        @dp.materialized_view
        def left():
            MEET.wait()
            return spark.read.table("base").where("id < 5").withColumn("pool", F.lit(_pool()))

        @dp.materialized_view
        def right():
            MEET.wait()
            return spark.read.table("base").where("id >= 5").withColumn("pool", F.lit(_pool()))

        @dp.materialized_view
        def broken():
            return spark.read.table("base").selectExpr("no_such_column")

        @dp.materialized_view
        def after_broken():
            return spark.read.table("broken")

        @dp.materialized_view
        def both():
            return spark.read.table("left").unionByName(spark.read.table("right"))
    """,
}


def test_independent_flows_run_together_and_failures_stay_with_their_flow(
        spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    loaded = write_pipeline(tmp_path / "p", "conc", FLOWS, configuration={"test.meet_seconds": "120"})
    with pytest.raises(PipelineUpdateFailed) as failed:
        run_update(spark, loaded, spark_workspace)
    result = failed.value.result
    status = {k: d.status for k, d in result.datasets.items()}
    assert status == {"base": "COMPLETED", "left": "COMPLETED", "right": "COMPLETED", "both": "COMPLETED",
                      "broken": "FAILED", "after_broken": "SKIPPED"}
    assert "dataset 'broken', flow 'broken'" in result.datasets["broken"].error
    assert "no_such_column" in result.datasets["broken"].error
    assert result.datasets["after_broken"].error == "skipped: upstream dataset 'broken' failed"
    assert result.order.index("base") < result.order.index("left") < result.order.index("both")
    assert result.datasets["both"].inputs == ["left", "right"]
    pools = {r.pool for r in spark.table("main.conc.both").collect()}
    assert pools == {"pipeline-conc/left", "pipeline-conc/right"}
    assert spark.table("main.conc.both").count() == 10

    events = read_events(tmp_path / "p" / "storage")
    assert [e["sequence"] for e in events] == list(range(len(events)))  # one dense sequence across threads
    failed_events = [e for e in events if e["event_type"] == "flow_progress" and e["status"] == "FAILED"]
    assert [(e["dataset"], e["flow"]) for e in failed_events] == [("broken", "broken")]
    skipped = [e for e in events if e["event_type"] == "flow_progress" and e["status"] == "SKIPPED"]
    assert [e["flow"] for e in skipped] == ["after_broken"]


def test_max_concurrent_flows_caps_the_update(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    loaded = write_pipeline(tmp_path / "p", "capped", FLOWS, configuration={
        "test.meet_seconds": "3", "lakeloom.pipelines.maxConcurrentFlows": "1"})
    with pytest.raises(PipelineUpdateFailed) as failed:
        run_update(spark, loaded, spark_workspace)
    result = failed.value.result
    # One flow at a time: the barrier never sees its two parties together.
    assert result.datasets["left"].status == "FAILED" and result.datasets["right"].status == "FAILED"
    assert "BrokenBarrierError" in result.datasets["left"].error
    assert result.datasets["both"].status == "SKIPPED"
    progress = [json.loads(e["details"]) for e in read_events(tmp_path / "p" / "storage")
                if e["event_type"] == "flow_progress" and e["dataset"] == "base" and e["status"] == "COMPLETED"]
    assert progress and progress[0]["flow_progress"]["metrics"]["num_output_rows"] == 10


def test_max_concurrent_flows_setting() -> None:
    assert max_concurrent_flows({}, None) == 16
    assert max_concurrent_flows({}, "4") == 4
    assert max_concurrent_flows({"spark.sql.pipelines.execution.maxConcurrentFlows": "3"}, "4") == 3
    assert max_concurrent_flows({"lakeloom.pipelines.maxConcurrentFlows": "2",
                                 "spark.sql.pipelines.execution.maxConcurrentFlows": "3"}, None) == 2
    with pytest.raises(PipelineDefinitionError, match="lakeloom.pipelines.maxConcurrentFlows: expected a positive"):
        max_concurrent_flows({"lakeloom.pipelines.maxConcurrentFlows": "0"}, None)


def test_flow_slots_exclusive_waits_for_shared_and_nests() -> None:
    import threading

    slots = FlowSlots(2)
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def shared() -> None:
        with slots.hold(False):
            with slots.hold(False):  # nested: reuses the slot
                inside.set()
                release.wait(30)
                order.append("shared done")

    def exclusive() -> None:
        with slots.hold(True):
            order.append("exclusive")

    t1 = threading.Thread(target=shared)
    t1.start()
    assert inside.wait(30)
    t2 = threading.Thread(target=exclusive)
    t2.start()
    t2.join(0.2)
    assert order == []  # still waiting for the shared holder
    release.set()
    t1.join(30)
    t2.join(30)
    assert order == ["shared done", "exclusive"]
