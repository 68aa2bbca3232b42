"""Job clusters of one run: which Spark application each task uses, and when they start and stop.

Tasks without a cluster use the run's session. A cluster whose settings the run's session can
take runs in this process: on that session when nothing differs, else on a ``newSession()``
of it with the cluster's runtime settings (``spark.sql.*`` and the like) set. Any other
cluster (another master, driver or executor sizes, executor environment, static settings)
gets its own Spark application in a child process (:mod:`lakeloom.engine.cluster_process`),
started when its first task starts and stopped once its last task has its final result.
Tasks on the same cluster share its application.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.runtime.compute import ComputeSettings, ResolvedCluster, cluster_key_of, compute_settings, resolve_cluster

if TYPE_CHECKING:
    from lakeloom.engine.attempt import AttemptPlan, AttemptResult
    from lakeloom.engine.cluster_process import ClusterProcess
    from lakeloom.engine.session import RunSession
    from lakeloom.spec.models import Task

log = logging.getLogger("lakeloom.engine")

#: Settings a running SparkContext cannot change: a cluster that differs in one of them needs
#: its own application (checked before any JVM starts).
STATIC_PREFIXES = (
    "spark.master", "spark.app.", "spark.driver.", "spark.executor.", "spark.executorEnv.", "spark.cores.",
    "spark.dynamicAllocation.", "spark.jars", "spark.files", "spark.archives", "spark.submit.", "spark.memory.",
    "spark.default.parallelism", "spark.serializer", "spark.kryo", "spark.local.", "spark.network.", "spark.rpc.",
    "spark.shuffle.", "spark.task.", "spark.scheduler.", "spark.speculation", "spark.eventLog.", "spark.ui.",
    "spark.pyspark.", "spark.python.", "spark.hadoop.", "spark.extraListeners", "spark.plugins",
    "spark.sql.extensions", "spark.sql.catalogImplementation", "spark.sql.warehouse.dir", "spark.sql.hive.",
    "spark.sql.queryExecutionListeners", "spark.sql.streaming.streamingQueryListeners", "spark.sql.ui.",
    "spark.sql.cache.serializer", "spark.sql.globalTempDatabase", "spark.sql.connect.", "spark.sql.artifact.",
)


def _is_static(key: str) -> bool:
    return key.startswith(STATIC_PREFIXES)


@dataclass
class _Placement:
    """Where one cluster's tasks run: ``spark`` in this process, or ``process``."""

    cluster: ResolvedCluster
    spark: Callable[[], Any] | None = None
    process: ClusterProcess | None = None


class ClusterRouter:
    """Routes a run's attempts to their cluster's Spark application; thread-safe."""

    def __init__(self, session: RunSession, tasks: list[Task], default_conf: Callable[[], dict[str, str]]) -> None:
        self.s = session
        self._default_conf = default_conf
        self._compute: ComputeSettings | None = None
        self._lock = threading.Lock()
        self._resolved: dict[str, ResolvedCluster | None] = {}
        self._placements: dict[str, _Placement] = {}
        self._task_cluster: dict[str, str] = {}
        self._remaining: Counter[str] = Counter()
        self._finished: set[str] = set()
        self._stopping: list[threading.Thread] = []
        self._starting: dict[str, threading.Lock] = {}
        for task in tasks:
            key = cluster_key_of(task)
            if key is not None:
                self._task_cluster[task.task_key] = key
                self._remaining[key] += 1

    @staticmethod
    def needed(tasks: list[Task]) -> bool:
        """Whether any of ``tasks`` names a cluster (a run without one needs no router)."""
        return any(cluster_key_of(t) is not None for t in tasks)

    # --- attempts ------------------------------------------------------------------------

    def run_attempt(self, plan: AttemptPlan) -> AttemptResult:
        from lakeloom.engine.attempt import execute_attempt

        task = plan.task
        cluster = None
        try:
            cluster = None if "for_each_task" in task.task_blocks else self._cluster(task)
            if cluster is None:
                return execute_attempt(self.s, plan)
            placement = self._place(cluster)
        except Exception as e:  # bad compute config, or the application could not start: retries may start it
            from lakeloom.engine import states as st
            from lakeloom.engine.attempt import AttemptResult

            what = cluster.label if cluster else f"the compute of task {task.task_key!r}"
            log.exception("could not start %s", what)
            return AttemptResult(st.FAILED, error_type="ClusterError",
                                 message=f"could not start {what}: {type(e).__name__}: {e}",
                                 log_path=str(self.s.log_path(task.task_key, plan.attempt_number, plan.iteration)))
        if placement.process is not None:
            return placement.process.run_attempt(plan)
        return execute_attempt(self.s, plan, placement.spark)

    def cancel_remote(self, job_group: str) -> bool:
        """Cancel an attempt running in a cluster's process; False when none runs it."""
        with self._lock:
            processes = [p.process for p in self._placements.values() if p.process is not None]
        return any(p.cancel(job_group) for p in processes)

    def task_finished(self, task_key: str) -> None:
        """Stop a cluster's application once its last task of the run has its final result."""
        key = self._task_cluster.get(task_key)
        if key is None:
            return
        with self._lock:
            if task_key in self._finished:
                return
            self._finished.add(task_key)
            self._remaining[key] -= 1
            placement = self._placements.pop(key, None) if self._remaining[key] <= 0 else None
        if placement is not None and placement.process is not None:
            self._stop(placement)

    def close(self) -> None:
        """Stop every cluster process of the run and wait for them (the run has ended)."""
        with self._lock:
            left = list(self._placements.values())
            self._placements.clear()
        for placement in left:
            if placement.process is not None:
                self._stop(placement)
        for thread in self._stopping:
            thread.join()

    # --- resolving and placing clusters -----------------------------------------------------

    def _cluster(self, task: Task) -> ResolvedCluster | None:
        key = cluster_key_of(task)
        if key is None:
            return None
        with self._lock:
            if key not in self._resolved:
                if self._compute is None:
                    self._compute = compute_settings(self.s.workspace)
                cluster = resolve_cluster(self.s.job, task, self._compute)
                self._resolved[key] = cluster
                self._report(key, cluster)
            return self._resolved[key]

    def _report(self, key: str, cluster: ResolvedCluster | None) -> None:
        # Preparing the run logged these as validation warnings; the run's events keep them.
        if cluster is None:
            name = key.partition(":")[2]
            self.s.event("cluster_not_configured", f"existing_cluster_id {name!r} is not in compute.clusters "
                         "(conf/lakeloom.yml): its tasks use the run's Spark session", cluster=key)
        elif cluster.notes:
            self.s.event("cluster_settings_ignored", f"{cluster.label}: " + "; ".join(cluster.notes),
                         cluster=key, notes=list(cluster.notes))

    def _usable(self, key: str) -> _Placement | None:
        placement = self._placements.get(key)
        if placement is not None and (placement.process is None or placement.process.alive):
            return placement
        return None

    def _place(self, cluster: ResolvedCluster) -> _Placement:
        with self._lock:
            placement = self._usable(cluster.key)
            if placement is not None:
                return placement
            starting = self._starting.setdefault(cluster.key, threading.Lock())
        # Starting a process (or the run's session) takes seconds: hold only this cluster's lock,
        # so cancels and other clusters' tasks are not kept waiting.
        with starting:
            with self._lock:
                placement = self._usable(cluster.key)
            if placement is None:
                placement = self._in_process(cluster) or self._own_process(cluster)
                with self._lock:
                    self._placements[cluster.key] = placement
            return placement

    def _in_process(self, cluster: ResolvedCluster) -> _Placement | None:
        """The cluster on the run's session (or a ``newSession()`` of it), when it can take its settings."""
        if cluster.master != self.s.workspace.spark_master:
            return None
        if any(os.environ.get(k) != v for k, v in cluster.env.items()):
            return None
        if self.s.spark_started():
            live = self.s.spark()
            differing = {k: v for k, v in cluster.conf.items() if live.conf.get(k, None) != v}
        else:
            defaults = self._default_conf()
            differing = {k: v for k, v in cluster.conf.items() if defaults.get(k) != v}
        if any(_is_static(k) for k in differing):
            return None
        if not differing:
            self.s.event("cluster_started", f"{cluster.label} uses the run's Spark session", cluster=cluster.key)
            return _Placement(cluster, spark=self.s.spark)
        session = self.s.spark().newSession()
        try:
            for k, v in differing.items():
                session.conf.set(k, v)
        except Exception as e:  # a setting only a new application can take
            log.info("%s needs its own application: %s", cluster.label, e)
            return None
        self.s.event("cluster_started", f"{cluster.label} uses a session of the run's Spark application",
                     cluster=cluster.key, settings=sorted(differing))
        return _Placement(cluster, spark=lambda: session)

    def _own_process(self, cluster: ResolvedCluster) -> _Placement:
        from lakeloom.engine.cluster_process import ClusterProcess

        process = ClusterProcess(self.s, cluster)
        process.start()
        self.s.event("cluster_started", f"{cluster.label} started its own Spark application on {cluster.master}",
                     cluster=cluster.key, master=cluster.master, pid=process.pid,
                     log=self.s.workspace.stored_path(process.log_path))
        return _Placement(cluster, process=process)

    def _stop(self, placement: _Placement) -> None:
        process = placement.process
        assert process is not None

        def stop() -> None:
            process.stop()
            self.s.event("cluster_stopped", f"{placement.cluster.label} stopped its Spark application",
                         cluster=placement.cluster.key, pid=process.pid)

        thread = threading.Thread(target=stop, name=f"lakeloom-stop-{placement.cluster.key}", daemon=True)
        self._stopping.append(thread)
        thread.start()
