"""The FastAPI application of ``lakeloom serve``.

``create_app(ctx)`` builds the app: the Jobs API 2.2 under ``/api/2.2/jobs/`` (and the
same routes under ``/api/2.1/jobs/``), Unity Catalog's grants, catalogs, schemas and tables
under ``/api/2.1/unity-catalog/``, Databricks-shaped errors, ``/openapi.json`` and
``/docs``. HTML routes (the dashboard) are added by further routers at ``/``. The app
does not start the scheduler: the ``serve`` command wires scheduler, executor and app.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI

from lakeloom.server.audit_log import AuditMiddleware
from lakeloom.server.context import ServerContext
from lakeloom.server.errors import install_error_handlers
from lakeloom.server.limits import MAX_REQUEST_BYTES, ApiRequestGuard

API_PREFIXES = ("/api/2.2/jobs", "/api/2.1/jobs")
UNITY_CATALOG_PREFIX = "/api/2.1/unity-catalog"


def create_app(ctx: ServerContext, *, on_startup: list[Callable[[], None]] | None = None,
               on_shutdown: list[Callable[[], None]] | None = None) -> FastAPI:
    """The API application. ``on_startup`` / ``on_shutdown`` run in the app's lifespan
    (``serve`` uses them to start the scheduler and to drain runs on SIGTERM)."""
    from lakeloom import __version__
    from lakeloom.server import api_jobs, api_runs, api_unity_catalog

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
    app.add_middleware(ApiRequestGuard, prefixes=(*API_PREFIXES, UNITY_CATALOG_PREFIX), max_bytes=max_bytes)
    app.add_middleware(AuditMiddleware)
    for prefix in API_PREFIXES:
        app.include_router(api_jobs.router, prefix=prefix, include_in_schema=prefix == API_PREFIXES[0])
        app.include_router(api_runs.router, prefix=prefix, include_in_schema=prefix == API_PREFIXES[0])
    app.include_router(api_unity_catalog.router, prefix=UNITY_CATALOG_PREFIX)

    from lakeloom.server.dashboard import install_dashboard

    install_dashboard(app)
    ctx.engine.pm.hook.lakeloom_server_app(app=app, server=ctx)

    @app.get("/.well-known/databricks-config", include_in_schema=False)
    def host_metadata() -> dict[str, Any]:
        """What the databricks-sdk probes at start-up: a workspace host with no OAuth endpoint."""
        return {"oidc_endpoint": "", "workspace_id": str(ctx.engine.workspace.workspace_id)}

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "accepting_runs": ctx.executor.accepting,
                "active_runs": len(ctx.executor.active_run_ids())}

    return app
