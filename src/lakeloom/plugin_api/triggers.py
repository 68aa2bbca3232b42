"""The trigger contract: what a trigger kind decides and what it may look at.

A trigger plugin returns :class:`TriggerKind` objects from ``lakeloom_triggers``. The
scheduler asks each job's kind to :meth:`~TriggerKind.evaluate` it whenever the
kind's last answer said to look again. Evaluation is a pure decision over the kind's
persisted state; the scheduler does the side effects (persisting state, claiming,
starting runs), so no kind can fire twice across processes:

* a :class:`Fire` with ``tick_ms`` is claimed with a UNIQUE (job, tick) row first;
* any other fire only happens if its new state wins a compare-and-set on the store.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.spec.models import Job
    from lakeloom.store.records import RunRecord
    from lakeloom.store.store import RunStore


@dataclass
class Fire:
    """Start a run (``action="run"``) or repair the job's latest run (``action="repair"``;
    a repair that cannot start starts a run with ``trigger_type`` and ``trigger_info`` instead)."""

    trigger_type: str  # Jobs API trigger: PERIODIC, FILE_ARRIVAL, TABLE, CONTINUOUS, ...
    trigger_info: dict[str, Any] = field(default_factory=dict)
    tick_ms: int | None = None  # claimed as a UNIQUE (job, scheduled time) tick when set
    action: str = "run"
    repair_run_id: int | None = None


@dataclass
class Decision:
    """The result of one evaluation: an optional fire, the new state, when to look again."""

    fire: Fire | None = None
    state: dict[str, Any] | None = None  # None: leave the stored state as it is
    next_check_ms: int | None = None  # None: only when woken (e.g. a run of the job ended)


@dataclass
class JobEntry:
    """A deployed job as the scheduler sees it."""

    job_id: int
    job: Job
    creator: str | None
    settings: Any  # the kind's settings block (CronSchedule, Periodic, FileArrival, ...)
    kind: TriggerKind
    paused: bool = False
    next_check_ms: int = 0


@dataclass
class TriggerEnv:
    """What a kind may look at while evaluating: the workspace, the store, settings."""

    workspace: Workspace
    store: RunStore
    poll_ms: int = 10_000  # how often event triggers (files, tables) look again

    def local_path(self, url: str) -> Path:
        """A trigger URL as a local path (:meth:`lakeloom.config.Workspace.local_path`):
        ``dbfs:/`` and ``/Volumes/`` map to the workspace's roots."""
        return self.workspace.local_path(url)

    def latest_run(self, job_id: int) -> RunRecord | None:
        """The job's newest top-level run."""
        rows = self.store.list_runs(job_id=job_id, limit=1, include_children=False)
        return rows[0] if rows else None

    def busy(self, job_id: int) -> bool:
        return self.store.active_run_count(job_id) > 0 or bool(self.store.queued_runs(job_id))


class TriggerKind(Protocol):
    """One kind of trigger. ``key`` names it (``cron``, ``periodic``, ``file_arrival``, ...)."""

    key: str

    def settings_of(self, job: Job) -> Any | None:
        """This kind's settings block of ``job`` if the kind drives the job, else None."""

    def paused(self, job: Job) -> bool:
        """Whether the job's own settings pause this trigger (``pause_status: PAUSED``)."""

    def evaluate(self, env: TriggerEnv, entry: JobEntry, state: dict[str, Any] | None, now_ms: int) -> Decision:
        """Decide at ``now_ms`` given the persisted ``state`` (None the first time)."""
