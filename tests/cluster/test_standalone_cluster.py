"""The same job on a real standalone cluster and in local mode gives identical tables; the
executors did the work; a worker killed mid-stage does not fail the run.

One cluster run (``lakeloom submit``, a worker killed during its last stage, so the same run
proves the retry too). The local-mode reference runs meanwhile in this process, on the suite's
``spark`` session (local[2]): a second cold process would cost a JVM start and the demo's
imports again on a 2-core machine."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from lakeloom.config import Workspace, load_workspace
from lakeloom.runtime.standalone import ClusterInfo, kill_process, read_json

from cluster_helpers import COLD, LAKELOOM, lakeloom, master_json

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

TASKS_FILE = Path(__file__).with_name("standalone_suite_tasks.py")
#: Tasks of the slow stage: two per worker, ~3 s each, so a worker dies with work in flight.
SLOW_PARTITIONS = 4

#: The retail demo job (bronze MERGEs, silver, gold, quality, a notebook, a SQL file, a
#: dashboard and the declarative pipeline update), a Delta MERGE of its own, then one stage of
#: slow tasks (during which the test kills a worker of the cluster run).
SUITE_JOB = """
name: cluster_suite
tasks:
  - task_key: retail
    run_job_task: {job_name: retail_daily}
  - task_key: merge
    depends_on: [{task_key: retail}]
    python_task: {function: "standalone_suite_tasks:merge_orders"}
  - task_key: slow
    depends_on: [{task_key: merge}]
    python_task:
      function: standalone_suite_tasks:slow_stage
      parameters: {markers: "%s", partitions: "%d"}
"""

#: The schemas the suite job writes (the demo's, its pipeline's; the MERGE's table is in retail).
SUITE_SCHEMAS = ("retail", "retail_lakeflow")
#: Appended to by every quality task on the suite's session: compared on the demo's rows only.
QUALITY_RESULTS = "main.lakeloom_quality.results"
DEMO_JOB = "retail_daily"

#: Columns that differ between any two runs: the workspace's own file paths (``_source_file``),
#: the clock (quality results' ``validated_at``, ``revenue_checks.checked_at``) and the run
#: store's ids (the local run's store is the suite session's, with other tests' runs in it).
VOLATILE_COLUMNS = {"_source_file", "validated_at", "checked_at", "run_id", "job_id"}


def _workspace(root: Path, conf: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "lakeloom.yml").write_text(textwrap.dedent(conf))
    (root / "markers").mkdir()
    (root / "suite.yml").write_text(SUITE_JOB % (root / "markers", SLOW_PARTITIONS))
    shutil.copy(TASKS_FILE, root / "standalone_suite_tasks.py")
    return root


class WorkerKiller(threading.Thread):
    """SIGKILLs worker 1 (and its executor) once the cluster run's slow stage has tasks running
    on the cluster; ``started`` is how many of the stage's tasks had started by then."""

    def __init__(self, proc: subprocess.Popen[str], markers: Path, info: ClusterInfo) -> None:
        super().__init__(daemon=True)
        self.proc, self.markers, self.info = proc, markers, info
        self.started: int | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 1500
        while time.monotonic() < deadline and self.proc.poll() is None:
            started = len(list(self.markers.iterdir()))
            if started >= 2 and read_json(f"{self.info.worker_webui(0)}/json/")["executors"]:
                kill_process(self.info.workers[0], signal.SIGKILL)
                self.started = started
                return
            time.sleep(0.3)

    def outcome(self) -> int:
        if self.started is not None:
            return self.started
        ended = f"ended (exit code {self.proc.returncode})" if self.proc.poll() is not None else "was still running"
        raise AssertionError(f"the cluster run {ended} before its slow stage ran on worker 1")


def _local_reference_run(spark_workspace: Workspace, job_file: Path) -> dict:
    """The suite job's table-writing tasks in local mode, in this process on a ``newSession()``
    of the suite's session (its catalogs are the ``spark_workspace``'s)."""
    from lakeloom.engine.api import Engine
    from lakeloom.runtime.derived_session import DerivedSession

    engine = Engine.open(spark_workspace)
    try:
        prepared = engine.prepare(str(job_file), only=["retail", "merge"])
        return engine.execute(prepared, spark_provider=DerivedSession(engine.spark))
    finally:
        engine.store.close()


def _drop_suite_tables(spark) -> None:  # noqa: ANN001 - pyspark is imported lazily
    for schema in SUITE_SCHEMAS:
        spark.sql(f"DROP SCHEMA IF EXISTS main.{schema} CASCADE")
    if spark.catalog.tableExists(QUALITY_RESULTS):
        spark.sql(f"DELETE FROM {QUALITY_RESULTS} WHERE job_name = '{DEMO_JOB}'")


@pytest.fixture(scope="module")
def suite_runs(tmp_path_factory: pytest.TempPathFactory, standalone_cluster: ClusterInfo, spark,  # noqa: ANN001
               spark_workspace: Workspace) -> dict:
    """The suite job on the cluster (``lakeloom submit --master spark://...``, warehouse under a
    ``storage.root``, worker 1 killed during the last task) and, at the same time, its tables
    in local mode in this process."""
    base = tmp_path_factory.mktemp("cluster-suite")
    shared = base / "shared-mount"
    remote = _workspace(base / "remote", f"""
        storage: {{root: "{shared.as_uri()}"}}
        # The demo's generate_raw task writes its landing files under the workspace folder.
        volumes: {{root: "{base / 'remote' / '.lakeloom' / 'volumes'}"}}
        spark:
          conf:
            spark.executor.memory: 600m
            # Delta rebuilds a table's snapshot state in 50 partitions on a cluster: 25 tasks
            # per table read for 2 cores.
            spark.databricks.delta.snapshotPartitions: "2"
    """)
    local_job = base / "local" / "suite.yml"
    local_job.parent.mkdir()
    local_job.write_text(SUITE_JOB % (base / "local" / "markers", SLOW_PARTITIONS))
    shutil.copy(TASKS_FILE, local_job.parent / "standalone_suite_tasks.py")
    _drop_suite_tables(spark)
    t0 = time.monotonic()
    proc = subprocess.Popen([LAKELOOM, "--workspace", str(remote), "submit", "suite.yml",
                             "--master", standalone_cluster.master_url], cwd=remote, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **COLD}, start_new_session=True)
    killer = WorkerKiller(proc, remote / "markers", standalone_cluster)
    killer.start()
    try:
        local_run = _local_reference_run(spark_workspace, local_job)
        t_local, remote_done = time.monotonic() - t0, proc.poll() is not None
        stdout, stderr = proc.communicate(timeout=1500)
        t_remote = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        killer.join(timeout=5)
    print(f"cluster suite: local reference {t_local:.1f} s, cluster run "
          + ("ended before it" if remote_done else f"{t_remote:.1f} s"))
    assert proc.returncode == 0, (stdout + stderr)[-4000:]
    runs = _runs(remote)
    yield {"remote": remote, "shared": shared, "local_run": local_run, "runs": runs,
           "started_before_kill": killer.outcome(), "local_workspace": spark_workspace}
    _drop_suite_tables(spark)


def _runs(ws: Path) -> list[dict]:
    proc = lakeloom("--workspace", str(ws), "runs", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _suite_run(suite_runs: dict) -> dict:
    (suite,) = [r for r in suite_runs["runs"] if r["run_name"] == "cluster_suite"]
    return suite


def _rows(df) -> list[tuple]:  # noqa: ANN001 - pyspark is imported lazily
    if "job_name" in df.columns:
        df = df.where(df.job_name == DEMO_JOB)
    df = df.drop(*[c for c in df.columns if c in VOLATILE_COLUMNS])
    return sorted((tuple(r) for r in df.collect()), key=repr)


def test_cluster_start_status_through_the_cli(cluster_home: Path, standalone_cluster: ClusterInfo) -> None:
    proc = lakeloom("--workspace", str(cluster_home), "cluster", "status", "--json")
    status = json.loads(proc.stdout)
    assert proc.returncode == 0 and status["running"] is True
    assert status["master"]["aliveworkers"] == 2 and status["master"]["cores"] == 2
    assert {w["host"] for w in status["master"]["workers"]} == {"127.0.0.1"}
    assert all(p["alive"] for p in status["processes"].values()) and len(status["processes"]) == 3


def test_submit_records_the_cluster_run_in_the_workspace_store(suite_runs: dict) -> None:
    runs = suite_runs["runs"]
    assert _suite_run(suite_runs)["state"]["result_state"] == "SUCCESS"
    retail = [r for r in runs if r["run_name"] == "retail_daily"]
    assert len(retail) == 1 and retail[0]["state"]["result_state"] == "SUCCESS"
    assert suite_runs["local_run"]["state"]["result_state"] == "SUCCESS", suite_runs["local_run"]["state"]


def _tables(ws: Workspace) -> dict:
    from lakeloom.catalog.listing import list_tables

    return {f"{t.catalog}.{t.schema}.{t.name}": t for t in list_tables(ws) if t.table_type != "VIEW"}


def test_every_table_matches_the_local_run(spark, suite_runs: dict) -> None:  # noqa: ANN001
    remote = _tables(load_workspace(suite_runs["remote"]))
    assert {name.rsplit(".", 1)[0] for name in remote} == {*(f"main.{s}" for s in SUITE_SCHEMAS), "main.lakeloom_quality"}
    # The local run shares the suite session's catalog with other tests: only the suite's tables.
    local = {name: t for name, t in _tables(suite_runs["local_workspace"]).items()
             if name.split(".")[1] in SUITE_SCHEMAS or name == QUALITY_RESULTS}
    assert sorted(local) == sorted(remote)
    # Bronze/silver/gold, the notebook's and the pipeline's tables and the MERGE's own.
    assert {"main.retail.silver_orders", "main.retail.orders_merged", "main.retail.gold_daily_revenue"} <= set(remote)
    assert any(name.startswith("main.retail_lakeflow.") for name in remote)
    for name, table in remote.items():
        # The cluster's managed tables live under storage.root, the shared mount.
        assert table.storage_location, name
        assert Path(urlparse(table.storage_location).path).is_relative_to(suite_runs["shared"]), name
        # The session's own managed tables are read by name (governance refuses their paths).
        local_rows = _rows(spark.read.table(name))
        assert local_rows, f"{name} is empty in the local run"
        remote_rows = _rows(spark.read.format("delta").load(table.storage_location))
        assert remote_rows == local_rows, f"{name} differs between cluster and local"


def test_the_executors_on_both_workers_did_the_work(suite_runs: dict, standalone_cluster: ClusterInfo) -> None:
    ws = suite_runs["remote"]
    log = (ws / ".lakeloom" / "logs" / str(_suite_run(suite_runs)["run_id"]) / "merge" / "0.log").read_text()
    app_id, master = re.search(r"APP_ID=(\S+) MASTER=(\S+)", log).groups()  # type: ignore[union-attr]
    assert master == standalone_cluster.master_url
    apps = {a["id"]: a for a in master_json(standalone_cluster)["completedapps"]}
    assert app_id in apps and apps[app_id]["state"] == "FINISHED"
    for i in range(2):
        # The worker's executor folders: <work-dir>/<app-id>/<executor-id>/stderr.
        logs = sorted((worker_dir(standalone_cluster, i) / app_id).glob("*/stderr"))
        assert logs, f"worker {i + 1} ran no executor of {app_id}"
        text = "".join(p.read_text(errors="replace") for p in logs)
        assert re.search(r"Executor.*Finished task", text), f"the executors on worker {i + 1} ran no task"


def worker_dir(info: ClusterInfo, index: int) -> Path:
    return Path(info.master.log).parent / "work" / f"worker-{index + 1}"


def test_a_worker_killed_mid_stage_did_not_fail_the_run(suite_runs: dict, standalone_cluster: ClusterInfo) -> None:
    ws = suite_runs["remote"]
    suite = _suite_run(suite_runs)
    assert suite["state"]["result_state"] == "SUCCESS"
    log = (ws / ".lakeloom" / "logs" / str(suite["run_id"]) / "slow" / "0.log").read_text()
    assert f"TOTAL={sum(range(100 * SLOW_PARTITIONS))}" in log
    # The killed worker is gone, and tasks lost with it ran again on the other one.
    workers = {w["webuiaddress"]: w["state"] for w in master_json(standalone_cluster)["workers"]}
    assert workers[standalone_cluster.worker_webui(0)] in ("DEAD", "UNKNOWN")
    assert len(list((ws / "markers").iterdir())) > SLOW_PARTITIONS >= suite_runs["started_before_kill"]


def test_status_and_stop_without_a_cluster(tmp_path: Path) -> None:
    proc = lakeloom("--workspace", str(tmp_path), "cluster", "status")
    assert proc.returncode == 1 and "not running: no cluster recorded in" in proc.stdout
    proc = lakeloom("--workspace", str(tmp_path), "cluster", "stop")
    assert proc.returncode == 0 and "no cluster was running" in proc.stdout


def test_a_second_start_on_a_running_cluster_is_refused(cluster_home: Path, standalone_cluster: ClusterInfo) -> None:
    proc = lakeloom("--workspace", str(cluster_home), "cluster", "start", "--port", "0")
    assert proc.returncode == 1
    assert f"a cluster is already running here ({standalone_cluster.master_url}); stop it first" in proc.stderr
