"""Keeping tasks with different environments apart inside one process.

Tasks are threads of one process and ``sys.modules`` is shared, so two environments with
different versions of a package cannot be imported at the same moment. The gate lets the
tasks of one environment run together (with any number of tasks that use no
environment) and makes a task of another environment wait until they end; when a scope
ends, the modules its environment provided leave ``sys.modules`` (see
:mod:`lakeloom.runtime.imports`), so the next environment imports its own versions. A
thread may hold several keys itself (a notebook that ``%pip install``s on top of its
task's environment), never waiting on its own holds.
"""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Iterator

from lakeloom.runtime.environments.install import Environment
from lakeloom.runtime.imports import ImportScope, import_scope


class EnvironmentGate:
    """One environment at a time per process (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held: Counter[str] = Counter()
        self._by_thread: dict[int, Counter[str]] = {}

    def _may_enter(self, key: str, me: int) -> bool:
        others = self._held - self._by_thread.get(me, Counter())
        return not any(k != key for k in +others)

    @contextmanager
    def hold(self, key: str, *, cancelled: Callable[[], bool] = lambda: False,
             on_wait: Callable[[set[str]], None] | None = None) -> Iterator[None]:
        """Hold ``key``; waits (polling ``cancelled``) while other threads hold other keys."""
        me = threading.get_ident()
        with self._cond:
            told = False
            while not self._may_enter(key, me):
                if cancelled():
                    raise InterruptedError(f"cancelled while waiting for environment {key}")
                if on_wait is not None and not told:
                    on_wait(set(+self._held))
                    told = True
                self._cond.wait(0.2)
            self._held[key] += 1
            self._by_thread.setdefault(me, Counter())[key] += 1
        try:
            yield
        finally:
            with self._cond:
                self._held[key] -= 1
                mine = self._by_thread[me]
                mine[key] -= 1
                if not +mine:
                    del self._by_thread[me]
                self._held = +self._held
                self._cond.notify_all()

    def active(self) -> set[str]:
        """Keys held right now."""
        with self._cond:
            return set(+self._held)


GATE = EnvironmentGate()


@contextmanager
def environment_scope(env: Environment, *, cancelled: Callable[[], bool] = lambda: False,
                      on_wait: Callable[[set[str]], None] | None = None) -> Iterator[ImportScope]:
    """Run the block with ``env``'s packages importable (first) for this task only."""
    with GATE.hold(env.key, cancelled=cancelled, on_wait=on_wait), import_scope(front=[env.site_dir]) as scope:
        yield scope
