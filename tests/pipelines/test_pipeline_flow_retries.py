"""Flow retries (``pipelines.maxFlowRetryAttempts``): a failed flow runs again before the update
gives up on it, downstream datasets wait for the outcome, and the event log shows each attempt
(real Spark + Delta)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_helpers import write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.eventlog import read_events
from lakeloom.pipelines.model import PipelineDefinitionError
from lakeloom.pipelines.retries import RetryPolicy, retry_policy
from lakeloom.pipelines.runner import PipelineUpdateFailed, run_update

FLOWS = {
    "src/flows.py": """
        from pathlib import Path

        from pyspark import pipelines as dp

        CALLS = Path(spark.conf.get("test.calls"))

        def _attempt(name):
            path = CALLS / name
            n = int(path.read_text()) + 1 if path.exists() else 1
            path.write_text(str(n))
            return n

        @dp.materialized_view
        def flaky():
            if _attempt("flaky") < 3:
                raise ConnectionError("source briefly unreachable")
            return spark.range(4)

        @dp.materialized_view
        def after_flaky():
            return spark.read.table("flaky").selectExpr("id * 10 AS v")

        @dp.materialized_view(spark_conf={"pipelines.maxFlowRetryAttempts": "1"})
        def hopeless():
            _attempt("hopeless")
            raise ConnectionError("source gone for good")

        @dp.materialized_view
        def after_hopeless():
            return spark.read.table("hopeless")

        @dp.materialized_view
        @dp.expect_or_fail("small", "id < 2")
        def strict():
            _attempt("strict")
            return spark.range(3)
    """,
}


def _statuses(events: list[dict], flow: str) -> list[str]:
    return [e["status"] for e in events if e["event_type"] == "flow_progress" and e["flow"] == flow]


@pytest.mark.spark
def test_failed_flows_are_retried_as_configured(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    calls.mkdir()
    loaded = write_pipeline(tmp_path / "p", "retries", FLOWS, configuration={
        "test.calls": str(calls), "pipelines.maxFlowRetryAttempts": "2",
        "spark.sql.pipelines.execution.watchdog.minRetryTime": "1"})
    with pytest.raises(PipelineUpdateFailed) as failed:
        run_update(spark, loaded, spark_workspace)
    result = failed.value.result
    assert result.datasets, result.error
    status = {k: d.status for k, d in result.datasets.items()}
    assert status == {"flaky": "COMPLETED", "after_flaky": "COMPLETED", "hopeless": "FAILED",
                      "after_hopeless": "SKIPPED", "strict": "FAILED"}
    # Two retries from the pipeline setting; one from the flow's own spark_conf; none for a
    # violated expect_or_fail (it fails the same way every time).
    assert {p.name: int(p.read_text()) for p in calls.iterdir()} == {"flaky": 3, "hopeless": 2, "strict": 1}
    assert sorted(r.v for r in spark.table("main.retries.after_flaky").collect()) == [0, 10, 20, 30]
    assert "source gone for good" in result.datasets["hopeless"].error
    assert result.datasets["after_hopeless"].error == "skipped: upstream dataset 'hopeless' failed"

    events = read_events(tmp_path / "p" / "storage")
    assert _statuses(events, "flaky") == ["RUNNING", "FAILED", "RUNNING", "FAILED", "RUNNING", "COMPLETED"]
    assert _statuses(events, "hopeless") == ["RUNNING", "FAILED", "RUNNING", "FAILED"]
    assert _statuses(events, "strict") == ["RUNNING", "FAILED"]
    retried = [json.loads(e["details"])["flow_progress"] for e in events
               if e["flow"] == "flaky" and e["status"] == "FAILED"]
    assert [r["retry"]["attempt"] for r in retried] == [1, 2]
    assert all(r["retry"]["max_attempts"] == 2 for r in retried)
    warn = [e for e in events if e["flow"] == "flaky" and e["status"] == "FAILED"]
    assert {e["level"] for e in warn} == {"WARN"} and "ConnectionError" in warn[0]["error"]
    final = [json.loads(e["details"])["flow_progress"] for e in events
             if e["flow"] == "hopeless" and e["status"] == "FAILED"][-1]
    assert final == {"status": "FAILED", "retries": 1}


def test_retry_policy_settings_and_backoff() -> None:
    none: dict[str, str] = {}
    assert retry_policy(none, none, lambda key: None) == RetryPolicy(0, 5.0, 3600.0)
    session = {"spark.sql.pipelines.maxFlowRetryAttempts": "4"}
    assert retry_policy(none, none, session.get).retries == 4
    # The pipeline's configuration beats the session; a flow's spark_conf beats both.
    assert retry_policy(none, {"pipelines.maxFlowRetryAttempts": "1"}, session.get).retries == 1
    assert retry_policy({"spark.sql.pipelines.maxFlowRetryAttempts": "3"},
                        {"pipelines.maxFlowRetryAttempts": "1"}, session.get).retries == 3
    policy = retry_policy(none, {"spark.sql.pipelines.execution.watchdog.minRetryTime": "1s",
                                 "spark.sql.pipelines.execution.watchdog.maxRetryTime": "3"}, lambda key: None)
    assert [policy.wait_before(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    with pytest.raises(PipelineDefinitionError, match="at least 1 second"):
        retry_policy(none, {"spark.sql.pipelines.execution.watchdog.minRetryTime": "500ms"}, lambda key: None)
    with pytest.raises(PipelineDefinitionError, match="configuration pipelines.maxFlowRetryAttempts.*'-1'"):
        retry_policy(none, {"pipelines.maxFlowRetryAttempts": "-1"}, lambda key: None)
    with pytest.raises(PipelineDefinitionError, match="flow spark_conf .*minRetryTime.*'soon'"):
        retry_policy({"spark.sql.pipelines.execution.watchdog.minRetryTime": "soon"}, none, lambda key: None)
