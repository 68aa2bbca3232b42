"""What run hooks see of a run, and where plugins keep their per-run state.

Run hooks (``lakeloom_before_run``, ``lakeloom_after_run``) receive a :class:`RunView`
as ``handle``; task hooks reach the same view as ``ctx.run``. State a plugin keeps
about a run belongs in ``handle.stash`` under a :class:`StashKey` of its own (as in
pytest's ``stash``), never in module globals: one ``serve`` process drives many runs at
once, and each run's stash is dropped with the run.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.spec.models import Job
    from lakeloom.store.store import RunStore

T = TypeVar("T")
D = TypeVar("D")


class StashKey(Generic[T]):
    """A typed key into a :class:`Stash`. Create one per piece of state, at module level::

        TIMERS = StashKey[list[threading.Timer]]()
    """

    __slots__ = ()


class Stash:
    """Typed per-object state for plugins: ``stash[key] = value`` with a :class:`StashKey`.

    Thread-safe: the tasks of one run call their hooks on several worker threads.
    """

    __slots__ = ("_items", "_lock")

    def __init__(self) -> None:
        self._items: dict[StashKey[Any], Any] = {}
        self._lock = threading.Lock()

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        with self._lock:
            self._items[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        """The value under ``key``; KeyError when none was set."""
        with self._lock:
            return cast(T, self._items[key])

    def get(self, key: StashKey[T], default: D) -> T | D:
        with self._lock:
            return cast(T, self._items.get(key, default))

    def setdefault(self, key: StashKey[T], default: T) -> T:
        """The value under ``key``, first storing ``default`` when there is none."""
        with self._lock:
            return cast(T, self._items.setdefault(key, default))

    def pop(self, key: StashKey[T], default: D) -> T | D:
        """Remove and return the value under ``key`` (``default`` when none)."""
        with self._lock:
            return cast(T, self._items.pop(key, default))

    def __delitem__(self, key: StashKey[T]) -> None:
        with self._lock:
            del self._items[key]

    def __contains__(self, key: StashKey[T]) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class RunView(Protocol):
    """One run, as run hooks (``handle``) and task hooks (``ctx.run``) see it.

    Attributes:
        run_id: the run's ``run_id``.
        job_id: the job it runs.
        job: the job's settings as the run uses them.
        job_parameters: the run's resolved job parameters.
        trigger_type: why it runs (``ONE_TIME``, ``PERIODIC``, ``FILE_ARRIVAL``, ...).
        workspace: the workspace (its settings, paths, ``run_page_url``).
        store: the run store (read the run's rows; built-ins record notifications there).
        hook: the plugin manager's hook relay, to ask other plugins (e.g.
            ``handle.hook.lakeloom_notifiers()``).
        stash: this run's plugin state; the same object in every hook of the run,
            repairs of a run get a fresh one.
        principal: whom the run executes as (its ``run_as``, else its creator); None
            means the process's own user.
    """

    run_id: int
    job_id: int
    job: Job
    job_parameters: dict[str, str]
    trigger_type: str
    workspace: Workspace
    store: RunStore
    hook: Any
    stash: Stash
    principal: str | None

    def finished(self) -> bool:
        """Whether the run has ended (its end time is recorded in the store)."""
        ...
