"""The dashboard's page of a registered model (``/models/<catalog.schema.model>``): its
versions, aliases, the MLflow run and job run of each, their metrics. Job pages link here."""
from __future__ import annotations

import time
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from lakeloom.plugins.ml import store as ws_store
from lakeloom.server.dashboard.render import render
from lakeloom.server.dashboard.session import UiUser, ui_user


def model_versions(store_uri: str, name: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The versions of ``name`` (newest first) and its aliases, read from the workspace store."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)
    model = client.get_registered_model(name)
    versions = []
    for v in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)):
        metrics = sorted(client.get_run(v.run_id).data.metrics.items()) if v.run_id else []
        versions.append({"version": int(v.version), "aliases": list(v.aliases or []), "run_id": v.run_id or "",
                         "job_run_id": (v.tags or {}).get("lakeloom.job_run_id"), "metrics": metrics,
                         "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.creation_timestamp / 1000))})
    aliases = sorted((str(a), str(v)) for a, v in (model.aliases or {}).items())
    return versions, aliases


def install_model_page(app: FastAPI) -> None:
    """Add ``/models/{name}`` to the dashboard (signed-in users)."""

    @app.get("/models/{name}", include_in_schema=False)
    def model_page(name: str, request: Request, user: UiUser = Depends(ui_user)) -> Response:
        from mlflow.exceptions import MlflowException

        uri = ws_store.prepare(request.app.state.ctx.engine.workspace)
        try:
            versions, aliases = model_versions(uri, name)
        except MlflowException:
            return render(request, "error.html", status_code=404, title="Not found", status=404,
                          message=f"Registered model {name} does not exist.")
        return render(request, "model.html", name=name, versions=versions, aliases=aliases, title=name)
