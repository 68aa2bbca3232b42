"""The same job on a real standalone cluster and in local mode gives identical tables; the
executors did the work; a worker killed mid-stage does not fail the run.

One run per mode (Spark start-up dominates): the cluster run is killed a worker while its last
task's stage runs, so the same run proves the retry too."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from lakeloom.config import load_workspace
from lakeloom.runtime.standalone import ClusterInfo, kill_process, read_json

from cluster_helpers import COLD, LAKELOOM, lakeloom, master_json, run_json

# Two lakeloom runs of the retail demo at once: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

TASKS_FILE = Path(__file__).with_name("cluster_tasks.py")

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
    python_task: {function: "cluster_tasks:merge_orders"}
  - task_key: slow
    depends_on: [{task_key: merge}]
    python_task:
      function: cluster_tasks:slow_stage
      parameters: {markers: "%s", partitions: "8"}
"""

#: Columns that differ between any two runs: the workspace's own file paths (``_source_file``)
#: and the clock (quality results' ``validated_at``, ``revenue_checks.checked_at``).
VOLATILE_COLUMNS = {"_source_file", "validated_at", "checked_at"}


def _workspace(root: Path, conf: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "lakeloom.yml").write_text(textwrap.dedent(conf))
    (root / "markers").mkdir()
    (root / "suite.yml").write_text(SUITE_JOB % (root / "markers"))
    shutil.copy(TASKS_FILE, root / "cluster_tasks.py")
    return root


def _kill_a_worker_mid_stage(proc: subprocess.Popen[str], markers: Path, info: ClusterInfo) -> int:
    """SIGKILL worker 1 (and its executor) once the slow stage has tasks running on the
    cluster; returns how many of the stage's tasks had started by then."""
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline and proc.poll() is None:
        started = len(list(markers.iterdir()))
        if started >= 2 and read_json(f"{info.worker_webui(0)}/json/")["executors"]:
            kill_process(info.workers[0], signal.SIGKILL)
            return started
        time.sleep(0.3)
    ended = f"ended (exit code {proc.returncode})" if proc.poll() is not None else "was still running after 1500 s"
    raise AssertionError(f"the cluster run {ended} before its slow stage ran on worker 1")


@pytest.fixture(scope="module")
def suite_runs(tmp_path_factory: pytest.TempPathFactory, standalone_cluster: ClusterInfo) -> dict:
    """The suite job run twice at once: in local mode (``lakeloom run``, local[2]) and on the
    cluster (``lakeloom submit --master spark://...``, warehouse under a ``storage.root``),
    worker 1 of the cluster killed during the last task."""
    base = tmp_path_factory.mktemp("cluster-suite")
    local = _workspace(base / "local", """
        spark: {master: "local[2]"}
    """)
    shared = base / "shared-mount"
    remote = _workspace(base / "remote", f"""
        storage: {{root: "{shared.as_uri()}"}}
        # The demo's generate_raw task writes its landing files under the workspace folder.
        volumes: {{root: "{base / 'remote' / '.lakeloom' / 'volumes'}"}}
        spark: {{conf: {{spark.executor.memory: 900m}}}}
    """)
    commands = {"local": [LAKELOOM, "--workspace", str(local), "run", "suite.yml", "--json"],
                "remote": [LAKELOOM, "--workspace", str(remote), "submit", "suite.yml",
                           "--master", standalone_cluster.master_url]}
    procs = {name: subprocess.Popen(cmd, cwd=base / name, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, **COLD}, start_new_session=True)
             for name, cmd in commands.items()}
    out: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        started = _kill_a_worker_mid_stage(procs["remote"], remote / "markers", standalone_cluster)
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=1500)
            out[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert out["remote"].returncode == 0, (out["remote"].stdout + out["remote"].stderr)[-4000:]
    return {"local": local, "remote": remote, "shared": shared, "local_run": run_json(out["local"]),
            "started_before_kill": started}


def _runs(ws: Path) -> list[dict]:
    proc = lakeloom("--workspace", str(ws), "runs", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _rows(spark, location: str) -> list[tuple]:  # noqa: ANN001 - pyspark is imported lazily
    df = spark.read.format("delta").load(location)
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
    runs = _runs(suite_runs["remote"])
    suite = [r for r in runs if r["run_name"] == "cluster_suite"]
    assert len(suite) == 1 and suite[0]["state"]["result_state"] == "SUCCESS"
    retail = [r for r in runs if r["run_name"] == "retail_daily"]
    assert len(retail) == 1 and retail[0]["state"]["result_state"] == "SUCCESS"
    assert suite_runs["local_run"]["state"]["result_state"] == "SUCCESS"


def test_every_table_matches_the_local_run(spark, suite_runs: dict) -> None:  # noqa: ANN001
    from lakeloom.catalog.listing import list_tables

    local = {f"{t.catalog}.{t.schema}.{t.name}": t for t in list_tables(load_workspace(suite_runs["local"]))
             if t.table_type != "VIEW"}
    remote = {f"{t.catalog}.{t.schema}.{t.name}": t for t in list_tables(load_workspace(suite_runs["remote"]))
              if t.table_type != "VIEW"}
    assert sorted(local) == sorted(remote)
    # Bronze/silver/gold, the notebook's and the pipeline's tables and the MERGE's own.
    assert {"main.retail.silver_orders", "main.retail.orders_merged", "main.retail.gold_daily_revenue"} <= set(remote)
    assert any(name.startswith("main.retail_lakeflow.") for name in remote)
    for name, table in remote.items():
        # The cluster's managed tables live under storage.root, the shared mount.
        assert table.storage_location, name
        assert Path(urlparse(table.storage_location).path).is_relative_to(suite_runs["shared"]), name
        local_rows = _rows(spark, local[name].storage_location)
        assert local_rows, f"{name} is empty in the local run"
        assert _rows(spark, table.storage_location) == local_rows, f"{name} differs between cluster and local"


def test_the_executors_on_both_workers_did_the_work(suite_runs: dict, standalone_cluster: ClusterInfo) -> None:
    ws = suite_runs["remote"]
    (suite,) = [r for r in _runs(ws) if r["run_name"] == "cluster_suite"]
    log = (ws / ".lakeloom" / "logs" / str(suite["run_id"]) / "merge" / "0.log").read_text()
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
    (suite,) = [r for r in _runs(ws) if r["run_name"] == "cluster_suite"]
    assert suite["state"]["result_state"] == "SUCCESS"
    log = (ws / ".lakeloom" / "logs" / str(suite["run_id"]) / "slow" / "0.log").read_text()
    assert f"TOTAL={sum(range(800))}" in log
    # The killed worker is gone, and tasks lost with it ran again on the other one.
    workers = {w["webuiaddress"]: w["state"] for w in master_json(standalone_cluster)["workers"]}
    assert workers[standalone_cluster.worker_webui(0)] in ("DEAD", "UNKNOWN")
    assert len(list((ws / "markers").iterdir())) > 8 >= suite_runs["started_before_kill"]


def test_status_and_stop_without_a_cluster(tmp_path: Path) -> None:
    proc = lakeloom("--workspace", str(tmp_path), "cluster", "status")
    assert proc.returncode == 1 and "not running: no cluster recorded in" in proc.stdout
    proc = lakeloom("--workspace", str(tmp_path), "cluster", "stop")
    assert proc.returncode == 0 and "no cluster was running" in proc.stdout


def test_a_second_start_on_a_running_cluster_is_refused(cluster_home: Path, standalone_cluster: ClusterInfo) -> None:
    proc = lakeloom("--workspace", str(cluster_home), "cluster", "start", "--port", "0")
    assert proc.returncode == 1
    assert f"a cluster is already running here ({standalone_cluster.master_url}); stop it first" in proc.stderr
