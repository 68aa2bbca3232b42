"""What every route of ``lakeloom serve`` works with: :class:`ServerContext`."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from lakeloom.catalog.identity import configured_groups
from lakeloom.server.errors import not_found
from lakeloom.spec.permissions import granted_entitlements

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine
    from lakeloom.engine.executor import RunExecutor
    from lakeloom.store.records import RunRecord, StoredJob
    from lakeloom.store.store import RunStore

T = TypeVar("T")

@dataclass
class ServerContext:
    """What the routes use: the engine (workspace, plugins, store) and the run executor."""

    engine: Engine
    executor: RunExecutor
    groups: dict[str, set[str]] = field(default_factory=dict)
    #: Workspace entitlements: {"jobs.create" | "runs.submit": groups and principals granted}.
    entitlements: dict[str, frozenset[str]] = field(default_factory=lambda: granted_entitlements({}))
    _token_seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_engine(cls, engine: Engine, executor: RunExecutor) -> ServerContext:
        groups = configured_groups(engine.workspace)
        return cls(engine, executor, {g: set(m) for g, m in groups.items()},
                   granted_entitlements(engine.workspace.server))

    @property
    def store(self) -> RunStore:
        return self.engine.store

    @property
    def base_url(self) -> str:
        return self.engine.workspace.public_url

    def note_token_use(self, token_id: str) -> None:
        """Record a token's last use, at most once a minute per token."""
        now = time.monotonic()
        with self._lock:
            if now - self._token_seen.get(token_id, -1e9) < 60:
                return
            self._token_seen[token_id] = now
        self.store.touch_token(token_id)

    def delete_run_files(self, run_ids: list[int]) -> None:
        """Remove deleted runs' logs and saved outputs (``.lakeloom/logs/<run_id>/``)."""
        import shutil

        logs = self.engine.workspace.logs_dir
        for run_id in run_ids:
            shutil.rmtree(logs / str(int(run_id)), ignore_errors=True)

    def job(self, job_id: Any) -> StoredJob:
        """The stored job (``.job`` is its model), or 404 (also for an id that is not a number)."""
        return _stored_or_404("Job", job_id, self.store.get_job)

    def run(self, run_id: Any) -> RunRecord:
        """The stored run, or 404 (also for an id that is not a number)."""
        return _stored_or_404("Run", run_id, self.store.get_run)


def _stored_or_404(kind: str, ident: Any, get: Callable[[int], T | None]) -> T:
    try:
        number = int(ident)
    except (TypeError, ValueError):
        raise not_found(f"{kind} {ident} does not exist.") from None
    found = get(number)
    if found is None:
        raise not_found(f"{kind} {number} does not exist.")
    return found
