"""A local Spark standalone cluster for development: one master and N workers, each its own
JVM started from pyspark's own ``bin/spark-class`` and bound to 127.0.0.1.

``lakeloom cluster start|stop|status`` drives it; the test suite and the cluster benchmark use
the same functions. State lives in ``<state_dir>/cluster/``: ``cluster.json`` (URLs, ports,
pids), one ``.pid`` and one ``.log`` per process, and the workers' work folders (executor
logs under ``work/<worker>/<app-id>/<executor-id>/``).

Importing this module does not import pyspark.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from lakeloom.processes import pid_alive

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
HOST = "127.0.0.1"
STATE_FILE = "cluster.json"


def cluster_dir(state_dir: Path) -> Path:
    """Where a workspace's local cluster keeps its state."""
    return state_dir / "cluster"


class ClusterError(RuntimeError):
    """The standalone cluster could not be started, reached or stopped; the message says why."""


@dataclass
class ClusterProcess:
    """One JVM of the cluster (the master or a worker)."""

    name: str
    pid: int
    log: str
    webui_port: int


@dataclass
class ClusterInfo:
    """A started cluster, as recorded in ``cluster.json``."""

    master_url: str
    master_webui: str
    master: ClusterProcess
    workers: list[ClusterProcess] = field(default_factory=list)
    cores: int = 1
    memory: str = "1g"

    def worker_webui(self, index: int) -> str:
        return f"http://{HOST}:{self.workers[index].webui_port}"

    @staticmethod
    def from_json(data: dict[str, Any]) -> ClusterInfo:
        return ClusterInfo(
            master_url=data["master_url"], master_webui=data["master_webui"],
            master=ClusterProcess(**data["master"]), workers=[ClusterProcess(**w) for w in data["workers"]],
            cores=int(data.get("cores", 1)), memory=str(data.get("memory", "1g")))


def spark_home() -> Path:
    """``$SPARK_HOME`` if set, else the pyspark package folder (which holds ``bin/`` and ``jars/``)."""
    if env := os.environ.get("SPARK_HOME"):
        return Path(env)
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("pyspark is not installed (and SPARK_HOME is not set)")
    return Path(next(iter(spec.submodule_search_locations)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def _env(cluster_dir: Path) -> dict[str, str]:
    home = spark_home()
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_LOG_DIR": str(cluster_dir),
        "SPARK_NO_DAEMONIZE": "1",
        # Executors start Python workers with this interpreter unless the app says otherwise.
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
    })
    return env


def _launch(cluster_dir: Path, name: str, args: list[str], webui_port: int) -> ClusterProcess:
    spark_class = spark_home() / "bin" / "spark-class"
    if not spark_class.is_file():
        raise ClusterError(f"{spark_class} does not exist: this pyspark install cannot start a cluster")
    log = cluster_dir / f"{name}.log"
    with open(log, "ab") as out:
        # spark-class execs java, so this pid is the JVM's; a session of its own keeps Ctrl-C
        # in the caller's terminal from reaching the cluster.
        proc = subprocess.Popen(["bash", str(spark_class), *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=_env(cluster_dir), cwd=cluster_dir,
                                start_new_session=True)
    (cluster_dir / f"{name}.pid").write_text(str(proc.pid))
    return ClusterProcess(name=name, pid=proc.pid, log=str(log), webui_port=webui_port)


def read_json(url: str, timeout: float = 5) -> Any:
    """GET ``url`` and parse its JSON (the master's and workers' ``/json/`` endpoints)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs we built
        return json.loads(resp.read().decode())


def load_info(cluster_dir: Path) -> ClusterInfo | None:
    """The cluster recorded in ``cluster_dir``, or None."""
    path = cluster_dir / STATE_FILE
    if not path.is_file():
        return None
    return ClusterInfo.from_json(json.loads(path.read_text()))


def start_worker(cluster_dir: Path, info: ClusterInfo, index: int) -> ClusterProcess:
    """Start worker ``index`` (1-based) against ``info``'s master; returns its process."""
    port = free_port()
    work = cluster_dir / "work" / f"worker-{index}"
    work.mkdir(parents=True, exist_ok=True)
    return _launch(cluster_dir, f"worker-{index}", [
        WORKER_CLASS, "--host", HOST, "--cores", str(info.cores), "--memory", info.memory,
        "--webui-port", str(port), "--work-dir", str(work), info.master_url], port)


def start(cluster_dir: Path, *, workers: int = 2, cores: int = 1, memory: str = "1g", port: int = 7077,
          webui_port: int = 0, timeout: float = 180) -> ClusterInfo:
    """Start a master and ``workers`` workers (``cores`` cores and ``memory`` each); returns when
    every worker has registered. ``port``/``webui_port`` 0 pick free ports. Raises
    :class:`ClusterError` if a cluster recorded here still runs or the processes do not come up
    (the ones started are stopped again)."""
    if workers < 1 or cores < 1:
        raise ClusterError("--workers and --cores must be at least 1")
    cluster_dir.mkdir(parents=True, exist_ok=True)
    running = load_info(cluster_dir)
    if running is not None and pid_alive(running.master.pid):
        raise ClusterError(f"a cluster is already running here ({running.master_url}); stop it first")
    port = port or free_port()
    if _port_in_use(port):
        raise ClusterError(f"port {port} on {HOST} is in use: pass another --port")
    webui_port = webui_port or free_port()
    master = _launch(cluster_dir, "master", [MASTER_CLASS, "--host", HOST, "--port", str(port),
                                             "--webui-port", str(webui_port)], webui_port)
    info = ClusterInfo(master_url=f"spark://{HOST}:{port}", master_webui=f"http://{HOST}:{webui_port}",
                       master=master, cores=cores, memory=memory)
    _save(cluster_dir, info)
    try:
        _wait(lambda: _master_state(info) is not None, [master], timeout, "the master to start")
        for i in range(1, workers + 1):
            info.workers.append(start_worker(cluster_dir, info, i))
            _save(cluster_dir, info)
        _wait(lambda: alive_workers(info) >= workers, [master, *info.workers], timeout,
              f"{workers} worker(s) to register")
    except BaseException:
        stop(cluster_dir)
        raise
    return info


def _save(cluster_dir: Path, info: ClusterInfo) -> None:
    tmp = cluster_dir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(info), indent=2))
    os.replace(tmp, cluster_dir / STATE_FILE)


def _master_state(info: ClusterInfo) -> dict[str, Any] | None:
    try:
        return read_json(f"{info.master_webui}/json/")  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def alive_workers(info: ClusterInfo) -> int:
    """How many workers the master reports ALIVE (0 if it does not answer)."""
    state = _master_state(info) or {}
    return int(state.get("aliveworkers", 0))


def _wait(ready: Any, procs: list[ClusterProcess], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        dead = [p for p in procs if not pid_alive(p.pid)]
        if dead:
            tail = Path(dead[0].log).read_text(errors="replace")[-1500:] if Path(dead[0].log).exists() else ""
            raise ClusterError(f"{dead[0].name} exited while waiting for {what}; its log ({dead[0].log}):\n{tail}")
        time.sleep(0.5)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (logs in {procs[0].log})")


def status(cluster_dir: Path) -> dict[str, Any]:
    """The cluster as the master reports it (``/json/``: workers, cores, apps), plus the
    recorded processes. ``{"running": False}`` when no master answers."""
    info = load_info(cluster_dir)
    if info is None:
        return {"running": False, "reason": f"no cluster recorded in {cluster_dir}"}
    state = _master_state(info) if pid_alive(info.master.pid) else None
    if state is None:
        return {"running": False, "reason": f"the master ({info.master_url}, pid {info.master.pid}) is not answering",
                "master_url": info.master_url}
    return {"running": True, "master_url": info.master_url, "master_webui": info.master_webui,
            "processes": {p.name: {"pid": p.pid, "alive": pid_alive(p.pid), "log": p.log}
                          for p in (info.master, *info.workers)},
            "master": state}


def kill_process(proc: ClusterProcess, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to one cluster JVM (and its own process group: a worker's executors)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def stop(cluster_dir: Path, *, timeout: float = 20) -> list[str]:
    """Stop the recorded cluster: SIGTERM to the workers (their executors go with them) and
    the master, SIGKILL for any still alive after ``timeout`` seconds. Returns the names of
    the processes stopped; removes the pid files and ``cluster.json``."""
    info = load_info(cluster_dir)
    if info is None:
        return []
    procs = [*info.workers, info.master]
    stopped = [p.name for p in procs if pid_alive(p.pid)]
    for p in procs:
        kill_process(p)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p.pid) for p in procs):
        time.sleep(0.2)
    for p in procs:
        if pid_alive(p.pid):
            kill_process(p, signal.SIGKILL)
    for p in procs:
        (cluster_dir / f"{p.name}.pid").unlink(missing_ok=True)
    (cluster_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped
