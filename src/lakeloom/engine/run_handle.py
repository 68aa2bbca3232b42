"""RunHandle: the engine's :class:`~lakeloom.plugin_api.RunView`, what hooks see of a run."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeloom.plugin_api import Stash

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.spec.models import Job
    from lakeloom.store.store import RunStore


@dataclass(eq=False)
class RunHandle:
    """One run for run hooks (``handle``) and task hooks (``ctx.run``); owns the run's stash."""

    run_id: int
    job_id: int
    job: Job
    workspace: Workspace
    store: RunStore
    hook: Any
    job_parameters: dict[str, str] = field(default_factory=dict)
    trigger_type: str = "ONE_TIME"
    stash: Stash = field(default_factory=Stash)
    #: Whom the run executes as (its run_as, else its creator); None: the process's user.
    principal: str | None = None

    def finished(self) -> bool:
        row = self.store.get_run(self.run_id)
        return row is None or row.end_time is not None
