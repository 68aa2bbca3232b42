"""Building the state of Delta tables that a long-lived driver has just written, while it idles.

Every read or write of a Delta table uses its newest snapshot's state: the table's files,
its streams' transaction versions and its domain metadata. Delta 4.4 rebuilds that state
from the log for every new version, the first time the version is used: three small Spark
jobs. It does not derive it from the previous version's state, nor the domain metadata from
the checksum file, which has it.

So on a warm driver (``lakeloom daemon``, ``lakeloom serve``) every pipeline update paid those
jobs again, for each table the previous update wrote: an overwrite asks for the domain
metadata, a stream's Delta sink for its transaction version, a read for the files.

A warm driver keeps each table's ``DeltaLog`` and its newest snapshot cached between
commands. Once an update has written its tables, a background thread builds their new
snapshots' state, and the next update, stream batch or query of those tables starts from it.
The work is the same as before; it runs while the driver has nothing else to do. A cold
process exits after its command, so there it would be wasted, and nothing is queued.

If a command asks for a state that is still being built, it waits for that build; Delta
builds a snapshot's state once. Failures are only logged: a command that needs the state
builds it itself.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("lakeloom.delta_warmup")

#: The FAIR scheduler pool of the background jobs (same share as any other pool).
POOL = "lakeloom-background"

#: Tables built at once: a table's state is a few small Spark jobs that keep one core busy
#: at most, so two at a time finish sooner on an idle driver.
WORKERS = 2

_enabled = False
_queue: queue.Queue[tuple[Any, str]] = queue.Queue()
_workers: list[threading.Thread] = []
_workers_lock = threading.Lock()


def keep_warm(enabled: bool = True) -> None:
    """Declare that this process keeps its Spark driver after a command ends (the daemon and
    ``serve`` call this), so the tables that updates write are warmed afterwards.
    ``LAKELOOM_DELTA_WARMUP=0`` in the environment keeps it off."""
    global _enabled
    _enabled = enabled and os.environ.get("LAKELOOM_DELTA_WARMUP", "1") != "0"


def enabled() -> bool:
    """Whether this process warms the tables that updates write."""
    return _enabled


def warm_later(spark: Any, locations: Iterable[str]) -> int:
    """Queue the Delta tables at ``locations`` (paths or URIs) for their newest snapshot's
    state to be built in the background. Returns how many were queued (0 unless
    :func:`keep_warm` was called)."""
    if not _enabled:
        return 0
    queued = 0
    for location in dict.fromkeys(str(loc) for loc in locations):
        _queue.put((spark, location))
        queued += 1
    if queued:
        _ensure_workers()
    return queued


def wait_idle(timeout: float) -> bool:
    """Wait until every queued table is warmed; False if ``timeout`` seconds passed first."""
    deadline = time.monotonic() + timeout
    with _queue.all_tasks_done:
        while _queue.unfinished_tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _queue.all_tasks_done.wait(left)
    return True


def _ensure_workers() -> None:
    with _workers_lock:
        _workers[:] = [w for w in _workers if w.is_alive()]
        while len(_workers) < WORKERS:
            worker = threading.Thread(target=_work, name=f"lakeloom-delta-warmup-{len(_workers)}", daemon=True)
            worker.start()
            _workers.append(worker)


def _work() -> None:
    while True:
        spark, location = _queue.get()
        try:
            warm(spark, location)
        except Exception as e:  # noqa: BLE001 - the next command builds the state itself
            log.debug("could not warm the Delta table at %s: %s", location, e)
        finally:
            _queue.task_done()


def warm(spark: Any, location: str) -> bool:
    """Build the state of the newest snapshot the driver holds of the Delta table at
    ``location``, on this thread. Returns False when there is no table or no session."""
    sc = spark.sparkContext
    if getattr(sc, "_jsc", None) is None:  # the session was stopped meanwhile
        return False
    sc.setLocalProperty("spark.scheduler.pool", POOL)
    sc.setJobDescription(f"lakeloom: build the Delta state of {location}")
    try:
        delta_log = spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, location)
        snapshot = delta_log.unsafeVolatileSnapshot()
        if snapshot is None or snapshot.version() < 0:
            return False
        snapshot.numOfFiles()  # computes the snapshot's state, which caches the log replay
        return True
    finally:
        sc.setJobDescription(None)  # type: ignore[arg-type]
        sc.setLocalProperty("spark.scheduler.pool", None)  # type: ignore[arg-type]
