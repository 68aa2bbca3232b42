"""Live dashboard queries from ``lakeloom serve``: ``POST /dashboards/{key}/query``.

The web dashboard draws a stored snapshot. When a viewer changes a dataset parameter (or a
field filter over rows the snapshot cut at its row cap), the page posts the new values here
and the datasets and widgets are computed again on serve's Spark session, as the signed-in
principal; nothing is stored (a refresh run does that). Signed-in users only, with the
session's CSRF token, like every other state-touching page request.
"""
from __future__ import annotations

import threading
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lakeloom.server.dashboard.session import UiUser, check_csrf, ui_user

#: Live queries at once in one serve process (each runs every dataset of a dashboard).
MAX_CONCURRENT = 2
PRINCIPAL_PROPERTY = "lakeloom.principal"


class LiveQuery(BaseModel):
    """Parameter values (``keyword`` or ``keyword.min``/``.max`` → value) and field filters
    (column → ``{"values": [...]}`` or ``{"min": a, "max": b}``)."""

    parameters: dict[str, Any] = Field(default_factory=dict)
    filters: dict[str, dict[str, Any]] = Field(default_factory=dict)


def install_routes(app: FastAPI, server: Any) -> None:
    """Add the live-query route and tell the dashboard pages it exists."""
    slots = threading.BoundedSemaphore(MAX_CONCURRENT)
    app.state.lakeview_live = True

    @app.post("/dashboards/{key}/query", include_in_schema=False)
    def live_query(key: str, body: LiveQuery, request: Request, user: UiUser = Depends(ui_user)) -> Any:
        from lakeloom.plugins.dashboards import discovery
        from lakeloom.plugins.dashboards.refresh import DatasetDefaults, refresh

        check_csrf(request, user, request.headers.get("x-csrf-token"))
        engine = server.engine
        try:
            entry = discovery.find(engine.workspace, key, engine.pm.hook)
            dash = discovery.open_dashboard(entry)
        except (LookupError, ValueError) as e:
            return JSONResponse({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": str(e)}, status_code=404)
        if not slots.acquire(timeout=120):
            return JSONResponse({"error_code": "TEMPORARILY_UNAVAILABLE",
                                 "message": "too many live dashboard queries; try again"}, status_code=503)
        try:
            spark = engine.spark()
            sc = spark.sparkContext
            sc.setLocalProperty(PRINCIPAL_PROPERTY, user.name)  # the queries run as the viewer
            try:
                result = refresh(spark, dash, parameters=body.parameters, filters=body.filters,
                                 overrides=DatasetDefaults.of(entry.settings))
            finally:
                sc.setLocalProperty(PRINCIPAL_PROPERTY, None)
        finally:
            slots.release()
        snap = result.snapshot
        return {"dashboard": dash.key, "refreshed_at": snap["refreshed_at"], "datasets": snap["datasets"],
                "widgets": snap["widgets"], "filters": snap.get("filters") or {}}
