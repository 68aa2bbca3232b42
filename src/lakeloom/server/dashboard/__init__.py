"""The monitoring dashboard served by ``lakeloom serve`` at ``/``.

Server-rendered pages (Jinja2, SVG) with one small vendored script for live updates:
Jobs (``/``), Job (``/jobs/{id}``), Runs (``/runs``), Run (``/runs/{id}``, the
``run_page_url`` of the API), Dashboards (``/dashboards``, AI/BI snapshots drawn with
the vendored Vega-Lite) and Catalog (``/catalog``, the catalog browser). Sign-in exchanges a
lakeloom API token for a session cookie;
permissions are the API's job permissions; every POST is CSRF-checked. Pages carry a
strict Content-Security-Policy (scripts only from ``/static``) on top of escaping.
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from lakeloom.server.dashboard.render import SECURITY_HEADERS, STATIC, render
from lakeloom.server.dashboard.session import CsrfError, NeedsLogin
from lakeloom.server.errors import ApiError, describe_validation_errors

log = logging.getLogger("lakeloom.dashboard")

_API_PREFIXES = ("/api/", "/serving-endpoints/", "/.well-known/", "/healthz", "/openapi.json", "/docs", "/redoc")


def _is_api(path: str) -> bool:
    return path.startswith(_API_PREFIXES)


def _wants_json(request: Request) -> bool:
    """Requests made by the page's script (live fragments, log tail) get status codes, not pages."""
    return request.headers.get("x-requested-with") == "lakeloom" or request.url.path.endswith("/live")


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard's routes, static files, error pages and security headers to ``app``."""
    from lakeloom.server.dashboard import pages_catalog, pages_jobs, pages_lakeview, pages_runs, session

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(session.router)
    app.include_router(pages_jobs.router)
    app.include_router(pages_runs.router)
    app.include_router(pages_lakeview.router)
    app.include_router(pages_catalog.router)
    api_error_handler = app.exception_handlers.get(ApiError)

    @app.exception_handler(NeedsLogin)
    async def _login(request: Request, e: NeedsLogin) -> Response:
        if _wants_json(request) or request.method != "GET":
            return JSONResponse({"error_code": "UNAUTHENTICATED", "message": "sign in again"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(e.next_path)}", status_code=303)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, e: CsrfError) -> Response:
        return render(request, "error.html", status_code=403, title="Forbidden", status=403,
                      message="This request was refused: it did not carry this page's security token "
                              "(reload the page and try again).")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError) -> Response:
        if _is_api(request.url.path) and api_error_handler is not None:
            return await api_error_handler(request, e)  # type: ignore[no-any-return, misc]
        if _wants_json(request):
            return JSONResponse({"error_code": e.error_code, "message": e.message}, status_code=e.status)
        return render(request, "error.html", status_code=e.status, title="Error", status=e.status,
                      message=e.message)

    validation_handler = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def _bad_address(request: Request, e: RequestValidationError) -> Response:
        if (_is_api(request.url.path) or _wants_json(request)) and validation_handler is not None:
            return await validation_handler(request, e)  # type: ignore[no-any-return, misc]
        return render(request, "error.html", status_code=400, title="Bad request", status=400,
                      message=describe_validation_errors(e))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if _is_api(request.url.path):
            return await call_next(request)
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as e:  # a page bug: show it as a page, keep the connection
            log.exception("dashboard error on %s", request.url.path)
            response = render(request, "error.html", status_code=500, title="Internal error", status=500,
                              message=f"{type(e).__name__}: {e}")
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.1f}"
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if getattr(request.state, "flash_read", False):
            response.delete_cookie("lakeloom_flash", path="/")
        return response


__all__ = ["install_dashboard"]
