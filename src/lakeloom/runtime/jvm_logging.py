"""Where the Spark JVM's log goes: files under ``.lakeloom/logs``, not the terminal.

A session lakeloom starts gets a log4j2 configuration (written to
``.lakeloom/conf/log4j2.properties``) that routes each log event by the thread's
``lakeloom.run`` context: lines logged while a task thread of run N works (analysis,
planning, job submission) go to ``.lakeloom/logs/N/driver.log``, tagged with the task key;
everything else (start-up, scheduler and executor threads) to
``.lakeloom/logs/spark-driver.log``. When an attempt ends, its task's lines are also copied
into the attempt's own log (through its redacting sink, see :func:`task_lines`). The terminal shows Spark's log only with ``--verbose``
(``LAKELOOM_VERBOSE=1``). Task threads also create their FAIR scheduler pool before their
first job, so Spark has no unconfigured pool to warn about.

Importing this module does not import pyspark.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.config import Workspace

RUN_KEY = "lakeloom.run"
TASK_KEY = "lakeloom.task"
VERBOSE_ENV = "LAKELOOM_VERBOSE"

_PATTERN = "%d{yy/MM/dd HH:mm:ss} %p %c{1}%notEmpty{ [%X{lakeloom.task}]}: %m%n%ex"

_CONFIG = f"""# Written by lakeloom (runtime/jvm_logging.py); regenerated when a session starts.
status = error
appender.console.type = Console
appender.console.name = lakeloom-console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = {_PATTERN}
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = ${{sys:lakeloom.console.level:-OFF}}

appender.routing.type = Routing
appender.routing.name = lakeloom-routing
appender.routing.routes.type = Routes
appender.routing.routes.pattern = $${{ctx:{RUN_KEY}:-none}}
appender.routing.routes.process.type = Route
appender.routing.routes.process.key = none
appender.routing.routes.process.file.type = File
appender.routing.routes.process.file.name = lakeloom-process
appender.routing.routes.process.file.fileName = ${{sys:lakeloom.logs}}/spark-driver.log
appender.routing.routes.process.file.layout.type = PatternLayout
appender.routing.routes.process.file.layout.pattern = {_PATTERN}
appender.routing.routes.run.type = Route
appender.routing.routes.run.file.type = File
appender.routing.routes.run.file.name = lakeloom-run-${{ctx:{RUN_KEY}}}
appender.routing.routes.run.file.fileName = ${{sys:lakeloom.logs}}/${{ctx:{RUN_KEY}}}/driver.log
appender.routing.routes.run.file.layout.type = PatternLayout
appender.routing.routes.run.file.layout.pattern = {_PATTERN}

# Governance replaces the built-in current_user/session_user/user with the run's principal on
# purpose; every new session (one per warm command) would otherwise log it into the task's log.
logger.functions.name = org.apache.spark.sql.catalyst.analysis.SimpleFunctionRegistry
logger.functions.level = error

rootLogger.level = warn
rootLogger.appenderRef.console.ref = lakeloom-console
rootLogger.appenderRef.routing.ref = lakeloom-routing
"""


def verbose() -> bool:
    """Whether Spark's log should also reach the terminal (``lakeloom --verbose``)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


def driver_java_options(workspace: Workspace) -> str:
    """``spark.driver.extraJavaOptions`` that install lakeloom's log4j2 configuration."""
    conf_dir = workspace.state_dir / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / "log4j2.properties"
    if not path.exists() or path.read_text() != _CONFIG:
        path.write_text(_CONFIG)
    logs = workspace.logs_dir.resolve()
    level = "WARN" if verbose() else "OFF"
    return (f"-Dlog4j2.configurationFile={path.resolve().as_uri()} -Dlakeloom.logs={logs} "
            f"-Dlakeloom.console.level={level}")


def driver_log(workspace: Workspace, run_id: int) -> Path:
    """The JVM log of one run's task threads."""
    return workspace.logs_dir / str(run_id) / "driver.log"


#: A log4j event starts with the date of ``_PATTERN``; other lines continue it (stack traces).
_EVENT_START = re.compile(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d ")


def log_size(path: Path) -> int:
    """Where a task's lines in ``path`` will start (0 when the file does not exist yet)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def task_lines(path: Path, offset: int, task_key: str) -> str:
    """The events of ``path`` from byte ``offset`` on that are tagged with ``task_key``.

    Concurrent iterations of one ``for_each_task`` share the key, so each sees the others' lines.
    """
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    tag, keep, out = f" [{task_key}]: ", False, []
    for line in text.splitlines(keepends=True):
        if _EVENT_START.match(line):
            keep = tag in line
        if keep:
            out.append(line)
    return "".join(out)


def set_log_context(spark: SparkSession, run_id: str | None, task_key: str | None) -> None:
    """Tag the JVM log lines of the calling thread with its run and task (None clears them)."""
    context = spark.sparkContext._jvm.org.apache.logging.log4j.ThreadContext
    if run_id is None:
        context.remove(RUN_KEY)
        context.remove(TASK_KEY)
        return
    context.put(RUN_KEY, run_id)
    context.put(TASK_KEY, task_key or "")


def ensure_pool(spark: SparkSession, pool: str) -> None:
    """Create FAIR pool ``pool`` (FIFO inside, weight 1) unless Spark has it."""
    sc = spark.sparkContext._jsc.sc()
    if sc.getSchedulingMode().toString() != "FAIR" or sc.getPoolForName(pool).isDefined():
        return
    jvm = spark.sparkContext._jvm
    fifo = getattr(getattr(jvm, "org.apache.spark.scheduler.SchedulingMode$"), "MODULE$").FIFO()
    sc.taskScheduler().rootPool().addSchedulable(jvm.org.apache.spark.scheduler.Pool(pool, fifo, 0, 1))
