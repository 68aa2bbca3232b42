"""The shared Spark session of a run, and the per-task-thread Spark bindings.

One session per run, created lazily (a job with no Spark task starts no JVM), configured with
Delta Lake and lakeloom's catalogs, shared by the run's task threads. Each task attempt binds
its thread to its own job group (for cancel and timeout) and FAIR scheduler pool.

Importing this module does not import pyspark.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom.catalog import catalog_names, catalog_spark_conf, merge_conf, path_mapping_conf
from lakeloom.catalog.build import build_catalog_jar, build_fs_jar
from lakeloom.catalog.identity import PRINCIPAL_PROPERTY
from lakeloom.catalog.identity import publish as publish_identity
from lakeloom.runtime import spark_patches
from lakeloom.runtime.cluster_conf import cluster_conf, storage_connector_conf
from lakeloom.runtime.delta_jars import ensure_delta_jars, ensure_sqlite_jdbc_jar
from lakeloom.runtime.imports import make_environment_task_aware
from lakeloom.runtime.jvm_cds import with_driver_options

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.config import Workspace

log = logging.getLogger(__name__)

POOL_PROPERTY = "spark.scheduler.pool"
DEFAULT_SHUFFLE_PARTITIONS = "4"
CODEGEN_CACHE_ENTRIES = "2000"

# Not forwarded to spark-submit: the cluster decides its master and its workers' Python.
_LOCAL_ONLY_KEYS = frozenset({"spark.master", "spark.pyspark.python", "spark.pyspark.driver.python",
                              "spark.driver.extraJavaOptions"})


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def spark_conf(
    workspace: Workspace, plugin_conf: dict[str, str] | None = None, *, app_name: str = "lakeloom",
    master: str | None = None, overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """The full Spark configuration lakeloom uses for ``workspace``.

    Precedence, lowest first: lakeloom defaults, the catalog settings, ``plugin_conf`` (what
    plugins return from ``lakeloom_spark_conf``), ``spark.conf`` of the workspace config, then
    ``overrides`` (a job cluster's settings). ``master`` replaces the workspace's master; a
    non-local one adds what executors in other processes need (see
    :func:`lakeloom.runtime.cluster_conf.cluster_conf`). ``spark.jars`` and
    ``spark.sql.extensions`` are merged rather than replaced. Fetches the Delta jars and
    compiles the catalog jar if they are missing.
    """
    master = master or workspace.spark_master
    defaults = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.jars": ",".join(str(p) for p in [*ensure_delta_jars(), ensure_sqlite_jdbc_jar()]),
        # No Hive/Derby metastore: lakeloom's catalogs hold the persistent tables.
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": f"{workspace.warehouse_uri}/_spark_catalog",
        "spark.sql.sources.default": "delta",
        # Pools named by tasks but absent from an allocation file are created with defaults.
        "spark.scheduler.mode": "FAIR",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": DEFAULT_SHUFFLE_PARTITIONS,
        # Compiled query code is cached by its source, 100 classes by default: fewer than one
        # run of the retail demo compiles, so a warm driver compiled (Janino, the largest CPU
        # cost of small queries) every query again on every run.
        "spark.sql.codegen.cache.maxEntries": CODEGEN_CACHE_ENTRIES,
        "spark.log.level": "WARN",
        # Delta's parser extension drops named parameters that Spark binds while parsing, so
        # spark.sql(q, args=...) would fail in every task; bind them during analysis instead.
        "spark.sql.legacy.parameterSubstitution.constantsOnly": "true",
        # Read by Databricks code that logs or branches on where it runs.
        "spark.databricks.clusterUsageTags.clusterName": "lakeloom-local",
        "spark.databricks.clusterUsageTags.clusterId": "lakeloom-local",
    }
    from lakeloom.runtime.jvm_logging import driver_java_options

    # The driver is this process for every master (client mode); spark-submit drops it.
    defaults["spark.driver.extraJavaOptions"] = driver_java_options(workspace)
    if _is_local(master):
        # Delta's snapshot state is rebuilt with 50 partitions by default: ~1 s per small
        # table read on a laptop. Clusters keep Delta's default.
        defaults["spark.databricks.delta.snapshotPartitions"] = "2"
        defaults.update(path_mapping_conf(workspace))
    else:
        defaults = merge_conf(defaults, cluster_conf(workspace, master))
    conf = merge_conf(defaults, catalog_spark_conf(workspace), storage_connector_conf(workspace),
                      plugin_conf or {}, workspace.spark_conf, overrides or {})
    # Last: the archive must match the final spark.jars and driver class path.
    return with_driver_options(conf)


def prepare(workspace: Workspace) -> list[Path]:
    """The ``lakeloom setup`` step: fetch the Delta jars, build the catalog jar, create the
    store and warehouse folders. Idempotent and cheap when everything is already there.

    Returns the jars a Spark session needs (Delta jars, the catalog jar, then the path-mapping
    file systems' jar).
    """
    catalog_names(workspace)
    jars = ensure_delta_jars()
    jars.append(ensure_sqlite_jdbc_jar())
    jars.append(build_catalog_jar())
    jars.append(build_fs_jar())
    workspace.catalog_dir.mkdir(parents=True, exist_ok=True)
    workspace.warehouse_dir.mkdir(parents=True, exist_ok=True)
    return jars


def spark_submit_conf(workspace: Workspace, plugin_conf: dict[str, str] | None = None, *,
                      master: str | None = None) -> dict[str, str]:
    """The settings to pass to ``spark-submit --conf`` so a cluster session matches a local one.

    ``spark.master`` and the Python interpreter are left to spark-submit and the cluster. A
    session created by spark-submit is reused by :class:`SparkSessionProvider`.
    """
    conf = spark_conf(workspace, plugin_conf, master=master)
    # The application's JVM reads admins and groups from the workspace; a parent that never
    # started Spark itself (a spark_submit_task) has not written them yet.
    publish_identity(workspace)
    return {k: v for k, v in conf.items() if k not in _LOCAL_ONLY_KEYS}


def spark_submit_args(workspace: Workspace, plugin_conf: dict[str, str] | None = None, *,
                      master: str | None = None) -> list[str]:
    """:func:`spark_submit_conf` as ``["--conf", "key=value", ...]`` arguments."""
    args: list[str] = []
    for key, value in spark_submit_conf(workspace, plugin_conf, master=master).items():
        args += ["--conf", f"{key}={value}"]
    return args


class SparkSessionProvider:
    """Creates the run's SparkSession on first use and shares it between threads.

    If a SparkSession is already running in the process (spark-submit, a notebook, the test
    suite), :meth:`get` reuses it and :meth:`stop` leaves it running.
    """

    def __init__(
        self, workspace: Workspace, plugin_conf: dict[str, str] | None = None, app_name: str = "lakeloom", *,
        master: str | None = None, overrides: dict[str, str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.plugin_conf = dict(plugin_conf or {})
        self.app_name = app_name
        self.master = master
        self.overrides = dict(overrides or {})
        self._lock = threading.Lock()
        self._spark: SparkSession | None = None
        self._owned = False

    @property
    def started(self) -> bool:
        """Whether :meth:`get` has produced a session (no JVM is started to answer)."""
        return self._spark is not None

    @property
    def owns_session(self) -> bool:
        """Whether this provider created the session (and so will stop it)."""
        return self._owned

    def conf(self, master: str | None = None) -> dict[str, str]:
        """The Spark settings a new session gets (see :func:`spark_conf`)."""
        return spark_conf(self.workspace, self.plugin_conf, app_name=self.app_name,
                          master=master or self.master, overrides=self.overrides)

    def get(self) -> SparkSession:
        """Return the session, creating it on the first call. Thread-safe."""
        spark = self._spark
        if spark is not None:
            return spark
        with self._lock:
            if self._spark is None:
                publish_identity(self.workspace)
                self._spark = self._reuse_active() or self._create()
                spark_patches.install()
                make_environment_task_aware(self._spark.sparkContext)
            return self._spark

    def _reuse_active(self) -> SparkSession | None:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession() or SparkSession._instantiatedSession
        if active is None or active.sparkContext._jsc is None:  # stopped sessions linger
            return None
        catalog_key = f"spark.sql.catalog.{self.workspace.default_catalog}"
        store = active.conf.get(f"{catalog_key}.store", None)
        if active.conf.get(catalog_key, None) is None:
            log.warning(
                "reusing a SparkSession without lakeloom's catalog settings (%s is not set): "
                "three-level names will not resolve; start it with lakeloom.runtime.spark.spark_submit_args()",
                catalog_key,
            )
        elif store != str(self.workspace.catalog_dir.resolve()):
            log.warning("reusing a SparkSession whose catalog store is %s, not this workspace's %s",
                        store, self.workspace.catalog_dir.resolve())
        self._owned = False
        return active

    def _create(self) -> SparkSession:
        from pyspark.sql import SparkSession

        if os.environ.get("PYSPARK_GATEWAY_PORT"):
            # Launched by spark-submit: its --master and --name are the user's choice, not the workspace's.
            from pyspark import SparkConf

            conf = self.conf(SparkConf().get("spark.master", None))
            conf = {k: v for k, v in conf.items() if k not in ("spark.master", "spark.app.name")}
        else:
            conf = self.conf()
        # Python workers use PYSPARK_PYTHON when the conf is overridden away; keep them on ours.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        self.workspace.catalog_dir.mkdir(parents=True, exist_ok=True)
        self.workspace.warehouse_dir.mkdir(parents=True, exist_ok=True)
        builder = SparkSession.builder
        for key, value in conf.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        self._owned = True
        log.info("started Spark %s (master %s)", spark.version, spark.sparkContext.master)
        return spark

    def stop(self) -> None:
        """Stop the session if this provider created it; forget it either way."""
        with self._lock:
            spark, owned = self._spark, self._owned
            self._spark, self._owned = None, False
        if spark is not None and owned:
            spark.stop()


def bind_task_thread(spark: SparkSession, job_group: str, pool: str, description: str = "", *,
                     run_id: int | None = None, task_key: str | None = None,
                     properties: Mapping[str, str] | None = None) -> None:
    """Tag the Spark jobs the calling thread starts: job group ``job_group`` (cancellable, with
    interrupt on cancel), job tag ``job_group`` and FAIR pool ``pool``; ``spark`` becomes the
    thread's active session.

    PySpark pins each Python thread to its own JVM thread, so these local properties apply to
    the calling thread only; threads it starts later inherit them (see
    :mod:`lakeloom.runtime.spark_threads`). ``properties`` become further local properties of
    the thread (the engine sets ``lakeloom.job_id``, ``lakeloom.run_id``, ``lakeloom.task_key``,
    ... which lineage records read from the jobs a statement starts, and ``lakeloom.principal``,
    whom governance checks the thread's statements for). Call
    :func:`unbind_task_thread` before reusing the thread.
    """
    from lakeloom.runtime import spark_threads
    from lakeloom.runtime.jvm_logging import ensure_pool, set_log_context

    ensure_pool(spark, pool)
    extra = dict(properties or {})

    def bind() -> None:
        sc = spark.sparkContext
        if run_id is not None:
            set_log_context(spark, str(run_id), task_key)
        sc.setJobGroup(job_group, description or job_group, interruptOnCancel=True)
        sc.setLocalProperty(POOL_PROPERTY, pool)
        for key, value in extra.items():
            sc.setLocalProperty(key, value)
        # A tag survives user code that sets its own job group; cancel uses both.
        sc.clearJobTags()
        sc.addJobTag(job_group)
        _set_active_session(spark)

    spark_threads.install()
    bind()
    spark_threads.remember(spark_threads.Binding(job_group, bind, lambda: _clear_thread(spark, extra)))


def _set_active_session(spark: SparkSession) -> None:
    # ``SparkSession.getActiveSession()`` asks the JVM for the calling thread's session; a
    # worker thread has none, and user code then falls back to ``builder.getOrCreate()``.
    from pyspark.sql import SparkSession as PySparkSession

    jvm = spark.sparkContext._jvm
    PySparkSession._get_j_spark_session_class(jvm).setActiveSession(spark._jsparkSession)


def _clear_thread(spark: SparkSession, properties: Mapping[str, str] | None = None) -> None:
    from lakeloom.runtime.jvm_logging import set_log_context

    set_log_context(spark, None, None)
    sc = spark.sparkContext
    sc._jsc.clearJobGroup()
    for key in [POOL_PROPERTY, PRINCIPAL_PROPERTY, *(properties or {})]:
        sc.setLocalProperty(key, None)  # type: ignore[arg-type]
    sc.clearJobTags()


def unbind_task_thread(spark: SparkSession) -> None:
    """Clear the job group, tags and pool of the calling thread (e.g. a pooled worker thread)."""
    from lakeloom.runtime import spark_threads

    spark_threads.forget()
    _clear_thread(spark)


@contextmanager
def task_thread(spark: SparkSession, job_group: str, pool: str, description: str = "") -> Iterator[None]:
    """:func:`bind_task_thread` for the duration of a ``with`` block."""
    bind_task_thread(spark, job_group, pool, description)
    try:
        yield
    finally:
        unbind_task_thread(spark)


def cancel_job_group(spark: SparkSession, job_group: str) -> None:
    """Cancel every Spark job of ``job_group``, running (tasks are interrupted) and future.

    A task that ignores its cancellation (a script busy in Python, then starting a job) must
    not take the cluster's cores back after the engine moved on, so later jobs of the group
    are cancelled too, as long as a thread of the group lives. Jobs tagged ``job_group`` (from threads whose group user code
    replaced) are cancelled too.
    """
    from lakeloom.runtime import spark_threads

    def cancel() -> None:
        sc = spark.sparkContext
        sc._jsc.sc().cancelJobGroupAndFutureJobs(job_group, "the lakeloom task was cancelled or timed out")
        sc.cancelJobsWithTag(job_group)

    cancel()
    spark_threads.keep_cancelled(job_group, cancel)


def active_job_ids(spark: SparkSession, job_group: str) -> list[int]:
    """Ids of the jobs of ``job_group`` that Spark still tracks (running or recently finished)."""
    return list(spark.sparkContext.statusTracker().getJobIdsForGroup(job_group))
