"""A pool of daemon worker threads whose stuck workers can be abandoned.

``concurrent.futures`` joins its threads at interpreter exit, so a task stuck in pure
Python would keep ``lakeloom run`` alive forever. Here workers are daemon threads;
when the coordinator gives up on an attempt it abandons that worker and a fresh one
takes its place, so parallelism is not lost.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

_STOP = object()


class DaemonPool:
    def __init__(self, size: int, name: str = "lakeloom-task") -> None:
        self._size = max(1, size)
        self._name = name
        self._jobs: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0
        self._seq = 0

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._idle == 0 and self._workers < self._size:
                self._spawn()
            else:
                self._idle -= 1 if self._idle else 0
        self._jobs.put(fn)

    def _spawn(self) -> None:
        self._workers += 1
        self._seq += 1
        threading.Thread(target=self._loop, name=f"{self._name}-{self._seq}", daemon=True).start()

    def _loop(self) -> None:
        while True:
            fn = self._jobs.get()
            if fn is _STOP:
                return
            fn()  # type: ignore[operator]
            if getattr(threading.current_thread(), "_lakeloom_abandoned", False):
                return
            with self._lock:
                self._idle += 1

    def abandon(self, thread: threading.Thread | None) -> None:
        """Give up on ``thread`` (stuck in a task); a new worker replaces it."""
        with self._lock:
            if thread is not None:
                thread._lakeloom_abandoned = True  # type: ignore[attr-defined]
            self._workers -= 1
            self._spawn()

    def shutdown(self) -> None:
        with self._lock:
            n = self._workers
        for _ in range(n):
            self._jobs.put(_STOP)
