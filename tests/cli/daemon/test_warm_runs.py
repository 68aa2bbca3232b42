"""Warm runs against a real `lakeloom daemon` process (one per module, always stopped) and a
real `lakeloom serve`: same output and exit codes as cold, Ctrl-C, code reload, isolation."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeloom.cli.daemon import protocol
from lakeloom.processes import pid_alive

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))

TASKS = '''
import time
from lakeloom import context

def hello(greeting="hi"):
    print(f"{greeting} from a task", flush=True)
    context().task_values.set("said", greeting)

def boom():
    raise ValueError("this task fails on purpose")

def count():
    n = context().spark.range(10).count()
    print("rows", n)

def isolated():
    spark = context().spark
    assert not spark.catalog.tableExists("warm_probe"), "a temp view of an earlier run leaked"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4", "a SQL setting of an earlier run leaked"
    assert spark.catalog.currentDatabase() == "default", "the current schema of an earlier run leaked"
    spark.range(3).createOrReplaceTempView("warm_probe")
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.warm_iso")
    spark.sql("USE SCHEMA warm_iso")

def partitions(expected):
    got = context().spark.conf.get("spark.sql.shuffle.partitions")
    assert got == expected, f"shuffle partitions {got}, expected {expected}"

def tier():
    import os
    assert os.environ.get("WARM_TEST_TIER") == "gold", "the job cluster's environment is missing"

def delta_state_built(pattern):
    import glob
    spark = context().spark
    [location] = glob.glob(pattern)
    log = spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, location)
    for _ in range(600):  # the daemon builds it in the background once the update has ended
        snapshot = log.unsafeVolatileSnapshot()
        if snapshot.stateReconstructionTriggered():
            print("delta state built for version", snapshot.version(), flush=True)
            return
        time.sleep(0.1)
    raise AssertionError(f"the daemon did not build the Delta state of {location}")

def stuck():
    print("stuck task started", flush=True)
    for _ in range(600):
        time.sleep(0.2)   # ignores cancellation on purpose
'''

JOBS = {
    "hello.yml": "name: hello\ntasks:\n  - task_key: hello\n    python_task: {function: 'warm_tasks:hello', "
                 "parameters: {greeting: hey}}\n",
    "boom.yml": "name: boom\ntasks:\n  - task_key: boom\n    python_task: {function: 'warm_tasks:boom'}\n",
    "count.yml": "name: count\ntasks:\n  - task_key: count\n    python_task: {function: 'warm_tasks:count'}\n",
    "isolated.yml": "name: iso\ntasks:\n  - task_key: iso\n    python_task: {function: 'warm_tasks:isolated'}\n",
    "version.yml": "name: version\ntasks:\n  - task_key: v\n    python_task: {function: 'warm_lib:show'}\n",
    "clusters.yml": """
name: clusters
job_clusters:
  - job_cluster_key: shared
    new_cluster: {spark_conf: {spark.sql.shuffle.partitions: 3}}
  - job_cluster_key: envy
    new_cluster: {spark_env_vars: {WARM_TEST_TIER: gold}}
tasks:
  - task_key: on_shared
    job_cluster_key: shared
    python_task: {function: 'warm_tasks:partitions', parameters: {expected: '3'}}
  - task_key: on_driver
    python_task: {function: 'warm_tasks:partitions', parameters: {expected: '4'}}
  - task_key: on_envy
    job_cluster_key: envy
    python_task: {function: 'warm_tasks:tier'}
""",
    "stuck.yml": "name: stuck\ntasks:\n  - task_key: stuck\n    python_task: {function: 'warm_tasks:stuck'}\n",
}

PIPELINE = {
    "pipe/warm.pipeline.yml": "name: warm_pipe\ncatalog: main\nschema: warm_pipe\n"
                              "libraries: [{glob: {include: 'src/**'}}]\n",
    "pipe/src/totals.sql": "CREATE OR REFRESH MATERIALIZED VIEW totals AS SELECT id % 2 AS k, count(*) AS n "
                           "FROM range(10) GROUP BY id % 2\n",
}


CLIENT_IMPORTS = """
import atexit, sys
from lakeloom.cli.main import main
atexit.register(lambda: print("heavy imports:", sorted(m for m in ("pyspark", "py4j", "sqlalchemy", "pydantic",
                                                                    "lakeloom.engine") if m in sys.modules)))
sys.argv = ["lakeloom", *sys.argv[1:]]
main()
"""


def _lib(version: int) -> str:
    return f'VERSION = {version}\n\ndef show():\n    print("lib version", VERSION)\n'


def _env(ws: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ws}{os.pathsep}{ws / 'lib'}", "LAKELOOM_DAEMON": "1", **extra}


def _lakeloom(ws: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([LAKELOOM, "--workspace", str(ws), *args], cwd=ws, env=env or _env(ws),
                          capture_output=True, text=True, timeout=timeout)


def _status(ws: Path, env: dict[str, str] | None = None) -> dict | None:
    res = _lakeloom(ws, "daemon", "status", "--json", env=env)
    return json.loads(res.stdout) if res.returncode == 0 else None


def _stop(ws: Path) -> None:
    info = protocol.read_info(ws / ".lakeloom")
    subprocess.run([LAKELOOM, "--workspace", str(ws), "daemon", "stop"], env=_env(ws), capture_output=True,
                   timeout=120)
    if info is not None and pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with a warm daemon (Spark up) for the whole module."""
    root = tmp_path_factory.mktemp("warm")
    (root / "conf").mkdir()
    (root / "conf" / "lakeloom.yml").write_text("spark: {master: 'local[2]'}\nengine: {cancel_grace_seconds: 0.5}\n")
    (root / "warm_tasks.py").write_text(TASKS)
    (root / "lib").mkdir()
    (root / "lib" / "warm_lib.py").write_text(_lib(1))
    for name, text in {**JOBS, **PIPELINE}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    try:
        res = _lakeloom(root, "daemon", "start", timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Spark warm" in res.stdout, res.stdout
        yield root
    finally:
        _stop(root)


def _normal(text: str) -> str:
    text = re.sub(r"\b\d+(\.\d+)? ?(ms|s)\b|\d+m\d+s", "<t>", text)
    text = re.sub(r"\b[Rr]un \d+", "run <n>", text)
    return re.sub(r"[ ─━]+", " ", text)  # column widths follow the durations


def test_warm_run_prints_and_exits_as_a_cold_one(ws: Path) -> None:
    served = _status(ws)["commands"]
    warm = _lakeloom(ws, "run", "hello.yml")
    assert _status(ws)["commands"] == served + 1  # it ran in the daemon
    cold = _lakeloom(ws, "run", "hello.yml", "--no-daemon")
    assert _status(ws)["commands"] == served + 1  # --no-daemon ran here
    assert (warm.returncode, cold.returncode) == (0, 0), warm.stderr + cold.stderr
    assert _normal(warm.stderr) == _normal(cold.stderr)
    assert "hello" in warm.stderr and "SUCCESS" in warm.stderr
    light = subprocess.run([sys.executable, "-c", CLIENT_IMPORTS, "--workspace", str(ws), "run", "hello.yml"],
                           cwd=ws, env=_env(ws), capture_output=True, text=True, timeout=240)
    assert light.returncode == 0, light.stderr
    assert light.stdout.endswith("heavy imports: []\n"), light.stdout  # the client stays light
    assert _status(ws)["commands"] == served + 2
    as_json = _lakeloom(ws, "run", "hello.yml", "--json")
    run = json.loads(as_json.stdout)
    assert run["state"]["result_state"] == "SUCCESS" and as_json.returncode == 0
    log = ws / ".lakeloom" / "logs" / str(run["run_id"]) / "hello" / "0.log"
    assert log.read_text() == "hey from a task\n"  # the task's output went to its log, not the terminal
    shown = json.loads(_lakeloom(ws, "runs", "show", str(run["run_id"]), "--json").stdout)
    assert shown["tasks"][0]["state"]["result_state"] == "SUCCESS"


BUNDLE = """
bundle: {name: warm_bundle}
resources:
  jobs:
    greet:
      name: greet
      tasks:
        - task_key: hello
          python_task: {function: 'warm_tasks:hello', parameters: {greeting: "${var.greeting}"}}
variables:
  greeting: {default: hi}
"""


def test_bundle_run_is_warm_unless_no_daemon(ws: Path) -> None:
    (ws / "bun").mkdir(exist_ok=True)
    (ws / "bun" / "databricks.yml").write_text(BUNDLE)
    served = _status(ws)["commands"]
    warm = _lakeloom(ws, "bundle", "run", "greet", "--bundle", "bun", "--var", "greeting=ahoy", "--json")
    assert _status(ws)["commands"] == served + 1  # it ran in the daemon
    cold = _lakeloom(ws, "bundle", "run", "greet", "--bundle", "bun", "--var", "greeting=ahoy", "--json",
                     "--no-daemon")
    assert _status(ws)["commands"] == served + 1  # --no-daemon ran here
    assert (warm.returncode, cold.returncode) == (0, 0), warm.stderr + cold.stderr
    for res in (warm, cold):
        run_id = json.loads(res.stdout)["run_id"]
        assert (ws / ".lakeloom" / "logs" / str(run_id) / "hello" / "0.log").read_text() == "ahoy from a task\n"
    assert _normal(warm.stderr) == _normal(cold.stderr)


def test_failing_job_exits_1_and_the_daemon_goes_on(ws: Path) -> None:
    warm = _lakeloom(ws, "run", "boom.yml")
    cold = _lakeloom(ws, "run", "boom.yml", "--no-daemon")
    assert (warm.returncode, cold.returncode) == (1, 1)
    assert _normal(warm.stderr) == _normal(cold.stderr)
    assert "FAILED" in warm.stderr
    invalid = _lakeloom(ws, "run", "missing.yml")
    assert invalid.returncode == _lakeloom(ws, "run", "missing.yml", "--no-daemon").returncode != 0
    assert _lakeloom(ws, "run", "hello.yml").returncode == 0


def test_spark_job_runs_on_the_warm_driver_with_state_isolated_per_run(ws: Path) -> None:
    res = _lakeloom(ws, "run", "count.yml", "--json")
    assert res.returncode == 0, res.stderr
    run_id = json.loads(res.stdout)["run_id"]
    assert (ws / ".lakeloom" / "logs" / str(run_id) / "count" / "0.log").read_text() == "rows 10\n"
    for _ in range(2):  # each run would fail on the temp view, setting or schema the one before left
        iso = _lakeloom(ws, "run", "isolated.yml")
        assert iso.returncode == 0, iso.stderr + _task_error(ws)


def test_job_clusters_get_their_own_settings_on_a_warm_driver(ws: Path) -> None:
    res = _lakeloom(ws, "run", "clusters.yml")
    assert res.returncode == 0, res.stderr + _task_error(ws)


def _task_error(ws: Path) -> str:
    runs = json.loads(_lakeloom(ws, "runs", "list", "--json").stdout)
    shown = json.loads(_lakeloom(ws, "runs", "show", str(runs[0]["run_id"]), "--json").stdout)
    return json.dumps([t["state"] for t in shown["tasks"]])


def test_pipeline_run_on_the_warm_driver(ws: Path) -> None:
    res = _lakeloom(ws, "pipeline", "run", "pipe/warm.pipeline.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [ln.split() for ln in res.stdout.splitlines() if ln.startswith("  ")]
    assert [(ln[0], ln[2], ln[3]) for ln in lines] == [("totals", "COMPLETED", "2")]
    assert res.stdout.startswith("pipeline warm_pipe (")


def test_the_daemon_builds_the_delta_state_of_the_tables_an_update_wrote(ws: Path) -> None:
    res = _lakeloom(ws, "pipeline", "run", "pipe/warm.pipeline.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    pattern = ws / ".lakeloom" / "warehouse" / "main" / "warm_pipe" / "totals-*"
    (ws / "state.yml").write_text("name: state\ntasks:\n  - task_key: s\n    python_task: {function: "
                                  f"'warm_tasks:delta_state_built', parameters: {{pattern: '{pattern}'}}}}\n")
    res = _lakeloom(ws, "run", "state.yml")  # the task fails unless the state gets built
    assert res.returncode == 0 and "SUCCESS" in res.stdout + res.stderr, res.stdout + res.stderr


def test_changed_code_is_imported_again(ws: Path) -> None:
    assert "lib version 1" in _log_of(ws, _lakeloom(ws, "run", "version.yml", "--json"))
    lib = ws / "lib" / "warm_lib.py"
    lib.write_text(_lib(22))
    os.utime(lib, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert "lib version 22" in _log_of(ws, _lakeloom(ws, "run", "version.yml", "--json"))


def _log_of(ws: Path, res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 0, res.stderr
    run_id = json.loads(res.stdout)["run_id"]
    return (ws / ".lakeloom" / "logs" / str(run_id) / "v" / "0.log").read_text()


def test_ctrl_c_cancels_the_run_in_the_daemon(ws: Path) -> None:
    proc = subprocess.Popen([LAKELOOM, "--workspace", str(ws), "run", "stuck.yml"], cwd=ws, env=_env(ws),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any("stuck task started" in p.read_text() for p in (ws / ".lakeloom" / "logs").glob("*/stuck/0.log")):
        assert proc.poll() is None and time.monotonic() < deadline, "the stuck task never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "cancelling the run" in err
    runs = json.loads(_lakeloom(ws, "runs", "list", "--json").stdout)
    stuck = next(r for r in runs if r["run_name"] == "stuck")
    assert stuck["state"]["result_state"] == "CANCELED"
    assert _status(ws)["active"] == 0
    assert _lakeloom(ws, "run", "hello.yml").returncode == 0


def test_only_a_client_with_the_token_is_served(ws: Path) -> None:
    info = protocol.read_info(ws / ".lakeloom")
    assert info is not None
    assert (ws / ".lakeloom" / "daemon" / "daemon.json").stat().st_mode & 0o077 == 0
    assert (ws / ".lakeloom" / "daemon").stat().st_mode & 0o077 == 0
    with socket.create_connection(("127.0.0.1", info.port), timeout=10) as sock:
        sock.sendall(json.dumps({"op": "run", "token": "guess", "argv": ["run", "hello.yml"]}).encode() + b"\n")
        answer = json.loads(sock.makefile("rb").readline())
    assert answer == {"refused": "bad token", "restart": False}


def test_idle_timeout_stops_the_daemon(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text("daemon: {idle_timeout: 1, warm_spark: false}\n")
    try:
        res = _lakeloom(tmp_path, "daemon", "start", "--no-wait")
        assert res.returncode == 0, res.stderr
        info = protocol.read_info(tmp_path / ".lakeloom")
        assert info is not None and pid_alive(info.pid)
        deadline = time.monotonic() + 60
        while _status(tmp_path) is not None:
            assert time.monotonic() < deadline, "the idle daemon never stopped"
            time.sleep(0.2)
        assert not (tmp_path / ".lakeloom" / "daemon" / "daemon.json").exists()
    finally:
        _stop(tmp_path)


def test_serve_is_the_warm_driver_while_it_runs(tmp_path: Path) -> None:
    (tmp_path / "warm_tasks.py").write_text(TASKS)
    (tmp_path / "hello.yml").write_text(JOBS["hello.yml"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _env(tmp_path)
    serve = subprocess.Popen([LAKELOOM, "--workspace", str(tmp_path), "serve", "--port", str(port), "--no-scheduler",
                              "--no-warm-spark", "--log-level", "warning"], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while (status := _status(tmp_path)) is None:
            assert serve.poll() is None and time.monotonic() < deadline, "serve never hosted warm runs"
            time.sleep(0.2)
        assert status["kind"] == "serve" and status["pid"] == serve.pid
        res = _lakeloom(tmp_path, "run", "hello.yml")
        assert res.returncode == 0, res.stderr
        assert _status(tmp_path)["commands"] == 1
        assert _lakeloom(tmp_path, "daemon", "stop").returncode == 1  # a serve is not stopped as a daemon
    finally:
        serve.terminate()
        serve.wait(60)
    assert not (tmp_path / ".lakeloom" / "daemon" / "daemon.json").exists()


def test_a_task_module_resolves_in_the_daemon_as_in_a_cold_run(tmp_path: Path) -> None:
    """The daemon runs in the workspace root; a job of a sub-folder still gets its own
    ``same_name.py``, not the root's, as a cold run does (no PYTHONPATH here)."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text("daemon: {warm_spark: false}\n")
    for folder in (tmp_path, tmp_path / "sub"):
        folder.mkdir(exist_ok=True)
        (folder / "same_name.py").write_text(f"def which():\n    print('module of {folder.name}')\n")
    (tmp_path / "sub" / "job.yml").write_text(
        "name: sub_job\ntasks:\n  - task_key: v\n    python_task: {function: 'same_name:which'}\n")
    env = {**os.environ, "LAKELOOM_DAEMON": "1"}
    env.pop("PYTHONPATH", None)
    try:
        res = _lakeloom(tmp_path, "daemon", "start", "--no-wait", env=env)
        assert res.returncode == 0, res.stderr
        warm = _log_of(tmp_path, _lakeloom(tmp_path, "run", "sub/job.yml", "--json", env=env))
        assert _status(tmp_path, env)["commands"] == 1  # it ran in the daemon
        cold = _log_of(tmp_path, _lakeloom(tmp_path, "run", "sub/job.yml", "--json", "--no-daemon", env=env))
        assert warm == cold == "module of sub\n"
    finally:
        _stop(tmp_path)
