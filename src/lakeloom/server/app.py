"""The FastAPI application of ``lakeloom serve``.

``create_app(ctx)`` builds the app: the Jobs API 2.2 under ``/api/2.2/jobs/`` (and the
same routes under ``/api/2.1/jobs/``), Databricks-shaped errors, ``/openapi.json`` and
``/docs``. HTML routes (the dashboard) are added by further routers at ``/``. The app
does not start the scheduler: the ``serve`` command wires scheduler, executor and app.
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from fastapi import FastAPI

from lakeloom.server.errors import install_error_handlers, not_found
from lakeloom.server.limits import MAX_REQUEST_BYTES, ApiRequestGuard
from lakeloom.spec.permissions import granted_entitlements

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine
    from lakeloom.engine.executor import RunExecutor
    from lakeloom.spec.models import Job
    from lakeloom.store.store import RunStore

API_PREFIXES = ("/api/2.2/jobs", "/api/2.1/jobs")


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
        groups = engine.workspace.server.get("groups") or {}
        return cls(engine, executor, {str(g): set(m or []) for g, m in groups.items()},
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

    def job_row(self, job_id: Any) -> dict[str, Any]:
        """The stored job row, or 404 (also for an id that is not a number)."""
        try:
            jid = int(job_id)
        except (TypeError, ValueError):
            raise not_found(f"Job {job_id} does not exist.") from None
        row = self.store.get_job(jid)
        if row is None:
            raise not_found(f"Job {jid} does not exist.")
        return row

    def job(self, job_id: Any) -> tuple[dict[str, Any], Job]:
        """The stored job row and model, or 404."""
        from lakeloom.spec.models import Job

        row = self.job_row(job_id)
        return row, Job.model_validate(json.loads(row["settings_json"]))

    def run_row(self, run_id: Any) -> dict[str, Any]:
        try:
            rid = int(run_id)
        except (TypeError, ValueError):
            raise not_found(f"Run {run_id} does not exist.") from None
        row = self.store.get_run(rid)
        if row is None:
            raise not_found(f"Run {rid} does not exist.")
        return row


def create_app(ctx: ServerContext, *, on_startup: list[Callable[[], None]] | None = None,
               on_shutdown: list[Callable[[], None]] | None = None) -> FastAPI:
    """The API application. ``on_startup`` / ``on_shutdown`` run in the app's lifespan
    (``serve`` uses them to start the scheduler and to drain runs on SIGTERM)."""
    from lakeloom import __version__
    from lakeloom.server import api_jobs, api_runs

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import asyncio

        for fn in on_startup or []:
            fn()
        yield
        for fn in on_shutdown or []:
            await asyncio.get_running_loop().run_in_executor(None, fn)

    app = FastAPI(title="lakeloom Jobs API", version=__version__, lifespan=lifespan,
                  description="The Databricks Jobs API 2.2, served by lakeloom.")
    app.state.ctx = ctx
    install_error_handlers(app)
    max_bytes = int(ctx.engine.workspace.server.get("max_request_bytes") or MAX_REQUEST_BYTES)
    app.add_middleware(ApiRequestGuard, prefixes=API_PREFIXES, max_bytes=max_bytes)
    for prefix in API_PREFIXES:
        app.include_router(api_jobs.router, prefix=prefix, include_in_schema=prefix == API_PREFIXES[0])
        app.include_router(api_runs.router, prefix=prefix, include_in_schema=prefix == API_PREFIXES[0])

    from lakeloom.server.dashboard import install_dashboard

    install_dashboard(app)

    @app.get("/.well-known/databricks-config", include_in_schema=False)
    def host_metadata() -> dict[str, Any]:
        """What the databricks-sdk probes at start-up: a workspace host with no OAuth endpoint."""
        return {"oidc_endpoint": "", "workspace_id": str(ctx.engine.workspace.workspace_id)}

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "accepting_runs": ctx.executor.accepting,
                "active_runs": len(ctx.executor.active_run_ids())}

    return app
