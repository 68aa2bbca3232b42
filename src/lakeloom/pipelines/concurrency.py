"""Independent flows of an update run at the same time, as Spark's ``TriggeredGraphExecution`` does.

Every dataset of the update gets a worker thread; a worker builds its dataset through
:meth:`UpdateGraph.ensure`, so a read of an upstream dataset that another worker is building
waits for it (a read of one nobody has started builds it on the spot). At most
``max_flows`` datasets are built at once (:class:`FlowSlots`); a worker waiting for an
upstream gives its slot back. A dataset or flow with its own ``spark_conf`` changes the
update session's settings while it runs, so it runs alone (an exclusive slot).

Each worker runs in a copy of the caller's context (the read router, the task context), with
the update session active on its JVM thread and its own FAIR scheduler pool. Threads started
by a job task inherit the task's job group (:mod:`lakeloom.runtime.spark_threads`), so cancel
and timeout still reach every flow.
"""
from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.pipelines.model import Dataset, PipelineDefinitionError, int_setting

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Spark's own setting (``spark.sql.pipelines.execution.maxConcurrentFlows``, default 16).
MAX_FLOWS_CONF = "spark.sql.pipelines.execution.maxConcurrentFlows"
#: lakeloom's pipeline ``configuration`` key capping it for one pipeline.
MAX_FLOWS_SETTING = "lakeloom.pipelines.maxConcurrentFlows"
DEFAULT_MAX_FLOWS = 16
POOL_PROPERTY = "spark.scheduler.pool"


def max_concurrent_flows(configuration: dict[str, str], session_value: str | None) -> int:
    """The cap from the pipeline's ``configuration`` (lakeloom key, then Spark's), else the session."""
    for raw, where in ((configuration.get(MAX_FLOWS_SETTING), MAX_FLOWS_SETTING),
                       (configuration.get(MAX_FLOWS_CONF), MAX_FLOWS_CONF), (session_value, MAX_FLOWS_CONF)):
        if raw is None:
            continue
        return int_setting(raw, f"configuration {where}", minimum=1, expected="a positive integer")
    return DEFAULT_MAX_FLOWS


class FlowSlots:
    """At most ``limit`` shared holders, or one exclusive holder; holds are per thread and nest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._held = threading.local()

    def _stack(self) -> list[bool]:
        stack = getattr(self._held, "stack", None)
        if stack is None:
            stack = self._held.stack = []
        return stack

    def _acquire(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
                self._exclusive = True
            else:
                self._cond.wait_for(lambda: not self._exclusive and self._shared < self.limit)
                self._shared += 1

    def _release(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._exclusive = False
            else:
                self._shared -= 1
            self._cond.notify_all()

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        """Run the block in a slot. A nested hold of the same kind reuses the outer slot; a
        different kind gives the outer one back for the block's duration."""
        stack = self._stack()
        outer = stack[-1] if stack else None
        if outer is not None and outer == exclusive:
            stack.append(exclusive)
            try:
                yield
            finally:
                stack.pop()
            return
        if outer is not None:
            self._release(outer)
        self._acquire(exclusive)
        stack.append(exclusive)
        try:
            yield
        finally:
            stack.pop()
            self._release(exclusive)
            if outer is not None:
                self._acquire(outer)

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Give this thread's slot back while it waits for another thread (then take it again)."""
        stack = self._stack()
        outer = stack[-1] if stack else None
        if outer is not None:
            self._release(outer)
        try:
            yield
        finally:
            if outer is not None:
                self._acquire(outer)


def needs_exclusive(ds: Dataset, flows: list[Any]) -> bool:
    """A dataset whose flows change the session's settings runs alone."""
    return bool(ds.spark_conf) or any(f.spark_conf for f in flows)


def run_all(datasets: list[Dataset], ensure: Callable[[Dataset], None], *, max_flows: int,
            session: SparkSession, stop: threading.Event) -> list[BaseException]:
    """``ensure(ds)`` for every dataset on worker threads; returns the exceptions the workers
    raised (a PipelineDefinitionError stops datasets not yet started)."""
    errors: list[BaseException] = []
    if not datasets:
        return errors

    def work(ds: Dataset) -> None:
        if stop.is_set():
            return
        _activate(session)
        try:
            ensure(ds)
        except PipelineDefinitionError as e:
            stop.set()
            errors.append(e)
        except BaseException as e:  # noqa: BLE001 - reported by the caller, with the flow it belongs to
            errors.append(e)

    # A worker waiting for an upstream built on another thread holds no slot but a thread.
    workers = min(len(datasets), max_flows * 2, 64)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lakeloom-flow")
    try:
        futures = [executor.submit(contextvars.copy_context().run, work, ds) for ds in datasets]
        for f in futures:
            f.result()
    except BaseException:  # Ctrl-C: datasets not started yet never start
        stop.set()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown()
    return errors


def _activate(session: SparkSession) -> None:
    """The update session active on this thread's JVM thread (``SparkSession.active()``)."""
    from pyspark.sql import SparkSession as PySparkSession

    PySparkSession._get_j_spark_session_class(session._jvm).setActiveSession(session._jsparkSession)


@contextmanager
def in_pool(session: SparkSession, pool: str) -> Iterator[None]:
    """Jobs started by this thread in the block go to FAIR pool ``pool``."""
    from lakeloom.runtime.jvm_logging import ensure_pool

    sc = session.sparkContext
    saved = sc.getLocalProperty(POOL_PROPERTY)
    ensure_pool(session, pool)
    sc.setLocalProperty(POOL_PROPERTY, pool)
    try:
        yield
    finally:
        sc.setLocalProperty(POOL_PROPERTY, saved)  # type: ignore[arg-type]
