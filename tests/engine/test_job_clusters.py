"""Job clusters on real Spark: settings reach the session, separate clusters get separate Spark
applications (a real child JVM), tasks of one cluster share one, and retries, timeouts, task
values, dbutils, logs and the run store work across the process boundary.

One run (module-scoped: the child application is a real JVM) holds every case:

- ``shared``: runtime settings only, so it stays on the run's Spark application (a ``newSession``);
- ``own``: a driver node type (1 core, 1g), an env var and settings a running context cannot take,
  so its tasks run in one child process with its own application on ``local[1]``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from harness import Harness

# The run starts a second JVM; on a loaded 2-core machine that alone can take minutes.
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

CONF = {"engine": {"cancel_grace_seconds": 60},  # a loaded machine may take seconds to cancel
        "compute": {"node_types": {"tiny": {"cores": 1, "memory": "1g"}},
                    # A configured existing cluster on the workspace's own master: runtime settings only.
                    "clusters": {"warm": {"master": "local[*]",
                                          "spark_conf": {"spark.lakeloom.test.cluster": "warm"}}}}}

JOB_CLUSTERS = [
    {"job_cluster_key": "shared", "new_cluster": {
        "spark_version": "15.4.x-scala2.12", "num_workers": 2,
        "spark_conf": {"spark.sql.shuffle.partitions": 3, "spark.lakeloom.test.cluster": "shared"}}},
    {"job_cluster_key": "own", "new_cluster": {
        "node_type_id": "tiny", "num_workers": 1,
        "spark_conf": {"spark.sql.shuffle.partitions": 5, "spark.lakeloom.test.cluster": "own"},
        "spark_env_vars": {"LAKELOOM_TEST_TIER": "gold"}}},
    # An environment the engine's process lacks: its own process, which never starts Spark.
    {"job_cluster_key": "fragile", "new_cluster": {"spark_env_vars": {"LAKELOOM_TEST_FRAGILE": "1"}}},
]


def _py(key: str, fn: str, cluster: str | None, deps: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    params = fields.pop("params", {})
    body: dict[str, Any] = {"task_key": key, "python_task": {"function": f"cluster_tasks:{fn}", "parameters": params}}
    if cluster:
        body["job_cluster_key"] = cluster
    if deps:
        body["depends_on"] = [{"task_key": d} for d in deps]
    return {**body, **fields}


TASKS = [
    _py("s1", "describe", "shared"),
    _py("o1", "describe", "own", params={"fail_first": "true"}, max_retries=1),
    _py("o2", "describe", "own", ("o1",)),
    _py("o_read", "read_upstream", "own", ("o1", "s1"), params={"upstream": "s1"}),
    _py("o_slow", "long_spark_job", "own", ("o1",), timeout_seconds=4),
    _py("s2", "describe", "shared", ("o2",)),
    _py("p_read", "read_upstream", None, ("o2",), params={"upstream": "o2"}),
    _py("f1", "crash_first", "fragile", max_retries=1),
    {**_py("e1", "describe", None), "existing_cluster_id": "warm"},
    {**_py("e2", "describe", None, ("e1",)), "existing_cluster_id": "nowhere"},
    _py("f2", "start_child_run", "fragile", ("f1",), params={"job_file": "CHILD_JOB"}),
    {"task_key": "o_each", "depends_on": [{"task_key": "o1"}], "for_each_task": {
        "inputs": "[1, 2]", "concurrency": 2,
        "task": {"task_key": "o_each_iteration", "job_cluster_key": "own",
                 "python_task": {"function": "cluster_tasks:app_of", "parameters": {"n": "{{input}}"}}}}},
    _py("after", "wait_until_gone", None, ("o2", "o_read", "o_slow"), params={"upstream": "o2"}, run_if="ALL_DONE"),
]


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Iterator[tuple[Harness, dict[str, Any]]]:
    h = Harness(tmp_path_factory.mktemp("job-clusters"), CONF)
    child = h.job([_py("greet", "hello", None)], name="child-job", filename="child.yml")
    tasks = [{**t, "python_task": {**t["python_task"], "parameters": {"job_file": str(child)}}}
             if t["task_key"] == "f2" else t for t in TASKS]
    run = h.engine.submit(str(h.job(tasks, job_clusters=JOB_CLUSTERS)))
    yield h, run
    h.close()


def _values(h: Harness, run_id: int, key: str) -> dict[str, Any]:
    return {k: v for k, v in h.store.task_values(run_id).get(key, {}).items()}


def test_clusters_get_their_own_or_the_shared_application(cluster_run: tuple[Harness, dict[str, Any]],
                                                          spark: Any) -> None:
    h, run = cluster_run
    rid = run["run_id"]
    s1, s2, o1, o2 = (_values(h, rid, k) for k in ("s1", "s2", "o1", "o2"))
    # shared: the run's application, with the cluster's runtime settings on its own session.
    assert s1["app"] == s2["app"] == spark.sparkContext.applicationId
    assert (s1["marker"], s1["partitions"]) == ("shared", "3")
    assert spark.conf.get("spark.sql.shuffle.partitions") != "3"  # the test session itself is untouched
    # own: one separate application for both tasks, with the node type and env applied.
    assert o1["app"] == o2["app"] != s1["app"]
    assert o1["pid"] == o2["pid"] != s1["pid"]
    assert (o1["marker"], o1["partitions"], o1["master"], o1["driver_memory"], o1["tier"]) == \
           ("own", "5", "local[1]", "1g", "gold")
    assert o1["rows"] == 10


def test_existing_clusters_come_from_compute_clusters(cluster_run: tuple[Harness, dict[str, Any]], spark: Any) -> None:
    h, run = cluster_run
    rid = run["run_id"]
    e1, e2 = _values(h, rid, "e1"), _values(h, rid, "e2")
    assert (e1["marker"], e1["app"]) == ("warm", spark.sparkContext.applicationId)
    assert e2["marker"] is None  # not configured: the run's own session, as the event says
    events = [(e.type, (e.data or {}).get("cluster")) for e in h.store.events(rid)]
    assert ("cluster_not_configured", "existing_cluster:nowhere") in events


def test_states_retries_and_timeouts_cross_the_process_boundary(cluster_run: tuple[Harness, dict[str, Any]]) -> None:
    h, run = cluster_run
    rid = run["run_id"]
    by_key: dict[str, list[Any]] = {}
    for row in h.store.task_runs(rid):
        by_key.setdefault(row.task_key, []).append(row)
    o1 = sorted(by_key["o1"], key=lambda r: r.attempt_number)
    assert [r.result_state for r in o1] == ["FAILED", "SUCCESS"], [r.state_message for r in o1]
    assert "ValueError: the first attempt fails on purpose" in (o1[0].state_message or "")
    slow = by_key["o_slow"]
    assert [r.result_state for r in slow] == ["TIMEDOUT"]
    # The timeout reached the Spark job in the cluster's process (not just the engine's bookkeeping).
    # (While it runs, or at its submission when the timeout came first: the message differs.)
    slow_log = h.workspace.resolve_stored(slow[0].log_path).read_text()
    assert re.search(r"SparkException: (\[SPARK_JOB_CANCELLED\] )?Job \d+ cancelled", slow_log), slow_log[-3000:]
    for key in ("s1", "o2", "o_read", "s2", "p_read", "after", "f2", "o_each", "e1", "e2"):
        assert [r.result_state for r in by_key[key]] == ["SUCCESS"], (key, [r.state_message for r in by_key[key]])
    # A process that dies fails its attempt; the retry gets a new process.
    f1 = sorted(by_key["f1"], key=lambda r: r.attempt_number)
    assert [r.result_state for r in f1] == ["FAILED", "SUCCESS"], [r.state_message for r in f1]
    assert "ended (exit code 3)" in (f1[0].state_message or ""), f1[0].state_message
    events = [e for e in h.store.events(rid) if (e.data or {}).get("cluster") == "job_cluster:fragile"]
    started = [e.data["pid"] for e in events if e.type == "cluster_started"]
    assert len(started) == 2 and started[1] == _values(h, rid, "f1")["pid"] != started[0]
    log = h.workspace.resolve_stored(o1[1].log_path).read_text()
    assert f"task o1 runs in process {_values(h, rid, 'o1')['pid']}" in log


def test_task_values_and_dbutils_cross_both_ways(cluster_run: tuple[Harness, dict[str, Any]]) -> None:
    h, run = cluster_run
    rid = run["run_id"]
    assert _values(h, rid, "o_read") == {"upstream_app": _values(h, rid, "s1")["app"], "via_dbutils": "shared"}
    assert _values(h, rid, "p_read") == {"upstream_app": _values(h, rid, "o2")["app"], "via_dbutils": "own"}


def test_for_each_iterations_and_child_runs_from_a_cluster_process(
        cluster_run: tuple[Harness, dict[str, Any]]) -> None:
    h, run = cluster_run
    rid = run["run_id"]
    own = _values(h, rid, "o1")
    iterations = sorted((r.output["result"] for r in h.store.task_runs(rid) if r.iteration is not None),
                        key=lambda out: out["n"])
    assert [(i["n"], i["app"], i["pid"]) for i in iterations] == [("1", own["app"], own["pid"]),
                                                                ("2", own["app"], own["pid"])]
    child = _values(h, rid, "f2")["child"]
    assert child["pid"] == _values(h, rid, "f1")["pid"]  # started from the cluster's process ...
    assert (child["state"], child["outputs"]) == ("SUCCESS", {"greet": {"result": "hello"}})
    row = h.store.get_run(child["run_id"])  # ... and run by the engine, as the run's child
    assert row is not None and row.parent_run_id == rid


def test_the_run_shows_its_compute_as_the_jobs_api_does(cluster_run: tuple[Harness, dict[str, Any]]) -> None:
    _, run = cluster_run
    assert [c["job_cluster_key"] for c in run["job_clusters"]] == ["shared", "own", "fragile"]
    keys = {t["task_key"]: t.get("job_cluster_key") for t in run["tasks"]}
    assert (keys["s1"], keys["o1"], keys["p_read"]) == ("shared", "own", None)


def test_the_cluster_application_stops_after_its_last_task(cluster_run: tuple[Harness, dict[str, Any]]) -> None:
    h, run = cluster_run
    rid = run["run_id"]
    assert _values(h, rid, "after") == {"gone": True}  # while the run still ran
    events = [(e.type, (e.data or {}).get("cluster")) for e in h.store.events(rid)]
    assert events.count(("cluster_started", "job_cluster:own")) == 1
    assert events.count(("cluster_started", "job_cluster:shared")) == 1
    assert ("cluster_stopped", "job_cluster:own") in events
    # What local mode cannot honour is in the run's events (and was logged when the run was prepared).
    ignored = [e for e in h.store.events(rid) if e.type == "cluster_settings_ignored"]
    by_cluster = {e.data["cluster"]: e.message for e in ignored}
    assert set(by_cluster) == {"job_cluster:shared", "job_cluster:own"}  # fragile asks nothing local mode lacks
    assert "num_workers is ignored on local[*]" in by_cluster["job_cluster:shared"]
    assert "node_type_id sizes executors, which local[1] does not have" in by_cluster["job_cluster:own"]
