"""spark-submit as a child application of a task (``spark_submit_task``, and ``spark_jar_task``
on a cluster master): the command line, its environment, its output in the task log, and
cancellation of the whole process group.

Importing this module does not import pyspark.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext

#: Seconds between SIGTERM and SIGKILL when a cancelled child application is stopped.
KILL_GRACE_SECONDS = 10.0


class SparkSubmitError(RuntimeError):
    """spark-submit could not be found, or the child application failed (the message quotes its
    last output lines)."""


def pyspark_home() -> Path:
    """The installed pyspark package folder (it holds ``bin/spark-submit`` and ``jars/``)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SparkSubmitError("pyspark is not installed; set SPARK_HOME")
    return Path(list(spec.submodule_search_locations)[0])


def spark_submit_binary() -> str:
    """spark-submit from SPARK_HOME, else the one installed with pyspark, else PATH."""
    home = os.environ.get("SPARK_HOME")
    candidates = [Path(home) / "bin" / "spark-submit"] if home else []
    candidates.append(Path(sys.executable).parent / "spark-submit")
    for c in candidates:
        if c.exists():
            return str(c)
    found = shutil.which("spark-submit")
    if not found:
        raise SparkSubmitError("spark-submit not found: set SPARK_HOME or install pyspark")
    return found


def submit_env() -> dict[str, str]:
    """The environment of a spark-submit child: this interpreter for the driver and the Python
    workers (it has lakeloom and the pipeline packages installed)."""
    env = dict(os.environ)
    env.setdefault("SPARK_HOME", str(pyspark_home()))
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # The child is a separate Spark application: it must not attach to this process's gateway.
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    return env


def child_application_command(ctx: TaskContext, args: list[str]) -> list[str]:
    """``spark-submit --master <the run's master> <lakeloom's Delta/catalog conf> <args>``: the
    child sees the same tables as the task (``args`` come last, so their ``--conf`` win)."""
    from lakeloom.runtime.spark import spark_submit_args

    master = ctx.workspace.spark_master
    return [spark_submit_binary(), "--master", master, "--name", f"{ctx.job_name}:{ctx.task_key}",
            *spark_submit_args(ctx.workspace, master=master), *args]


def run_child_application(ctx: TaskContext, cmd: list[str], *, cwd: Path | None = None) -> None:
    """Run ``cmd`` in its own process group, its output going to the task log line by line.

    Cancel or timeout of the task stops the group (SIGTERM, then SIGKILL). Raises
    :class:`SparkSubmitError` for a non-zero exit, quoting the last 20 lines."""
    proc = subprocess.Popen(cmd, cwd=cwd or ctx.base_dir, env=submit_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace",
                            start_new_session=True)
    tail: deque[str] = deque(maxlen=20)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            sys.stdout.write(line)  # a thread the task started writes to the task's log

    reader = threading.Thread(target=pump, name=f"spark-submit-{ctx.task_key}", daemon=True)
    reader.start()
    while proc.poll() is None:
        if ctx.cancel_event.wait(0.2):
            _stop_group(proc)
            reader.join(5)
            ctx.check_cancelled()
    reader.join(5)
    if proc.returncode != 0:
        detail = "".join(tail).rstrip()
        raise SparkSubmitError(f"spark-submit exited with code {proc.returncode}; last output:\n{detail}")


def _stop_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
