"""Spark job ownership that follows a task into the threads it starts.

PySpark pins each Python thread to its own JVM thread, and a new JVM thread does not inherit
the job group, job tags or scheduler pool of the Python thread that started it. A task that
starts a thread (a ``ThreadPoolExecutor``, a library's worker) would run Spark jobs that no
timeout or cancel can reach. :func:`install` wraps ``threading.Thread.start`` so a thread
started by a bound task thread binds itself to the same task before running, and unbinds
when it ends. Threads of py4j and PySpark themselves are left alone (their callback threads
must not call back into the JVM).

Importing this module does not import pyspark.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)

_INTERNAL_MODULES = ("py4j", "pyspark", __name__)
#: How often the jobs of a cancelled group are cancelled again while its threads live.
RECANCEL_SECONDS = 0.5


@dataclass(frozen=True)
class Binding:
    """Which task owns the Spark jobs of a thread: ``bind`` applies it to the calling thread."""

    job_group: str
    bind: Callable[[], None]
    unbind: Callable[[], None]


_bindings: dict[int, tuple[Binding, threading.Thread]] = {}
_lock = threading.Lock()
_original_start: Callable[[threading.Thread], None] | None = None
_cancelled: dict[str, Callable[[], None]] = {}
_watcher: threading.Thread | None = None


def remember(binding: Binding) -> None:
    """Record that the calling thread belongs to ``binding``'s task."""
    with _lock:
        _bindings[threading.get_ident()] = (binding, threading.current_thread())


def forget() -> None:
    """The calling thread no longer belongs to a task."""
    with _lock:
        _bindings.pop(threading.get_ident(), None)


def current() -> Binding | None:
    """The binding of the calling thread, if a task owns it."""
    entry = _bindings.get(threading.get_ident())
    return entry[0] if entry else None


def keep_cancelled(job_group: str, cancel: Callable[[], None]) -> None:
    """Call ``cancel`` again and again while a live thread still belongs to ``job_group``.

    Spark cancels the future *result* jobs of a cancelled group, but not the shuffle map
    stages that adaptive query execution submits on their own; a task that ignores its
    cancellation (abandoned by the engine) would start those and keep the cores.
    """
    global _watcher
    with _lock:
        _cancelled[job_group] = cancel
        if _watcher is None or not _watcher.is_alive():
            _watcher = threading.Thread(target=_watch, name="lakeloom-spark-cancel", daemon=True)
            _watcher.start()


def _live_groups() -> set[str]:
    with _lock:
        for ident, (_, thread) in list(_bindings.items()):
            if not thread.is_alive():
                del _bindings[ident]
        return {binding.job_group for binding, _ in _bindings.values()}


def _watch() -> None:
    global _watcher
    while True:
        threading.Event().wait(RECANCEL_SECONDS)
        live = _live_groups()
        with _lock:
            for group in [g for g in _cancelled if g not in live]:
                del _cancelled[group]
            todo = list(_cancelled.values())
            if not todo:
                _watcher = None
                return
        for cancel in todo:
            try:
                cancel()
            except Exception:  # the session may have stopped; nothing left to cancel
                log.debug("re-cancelling failed", exc_info=True)


def _internal(thread: threading.Thread) -> bool:
    target: Any = getattr(thread, "_target", None)
    modules = (type(thread).__module__ or "", getattr(target, "__module__", "") or "")
    return any(m.startswith(_INTERNAL_MODULES) for m in modules)


def _start(self: threading.Thread) -> None:
    binding = current()
    if binding is not None and not _internal(self):
        run = self.run

        def bound_run() -> None:
            try:
                binding.bind()
                remember(binding)
            except Exception:  # a stopped session must not keep the thread from running
                log.debug("could not bind thread %s to %s", threading.current_thread().name, binding.job_group,
                          exc_info=True)
            try:
                run()
            finally:
                if current() is binding:
                    forget()
                    try:
                        binding.unbind()
                    except Exception:
                        log.debug("could not unbind thread %s", threading.current_thread().name, exc_info=True)

        self.run = bound_run  # type: ignore[method-assign]
    assert _original_start is not None
    _original_start(self)


def install() -> None:
    """Make threads started by task threads inherit their task's Spark binding (idempotent)."""
    global _original_start
    with _lock:
        if _original_start is not None:
            return
        _original_start = threading.Thread.start
        threading.Thread.start = _start  # type: ignore[method-assign]
