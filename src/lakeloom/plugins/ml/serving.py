"""Model Serving endpoints in ``lakeloom serve``, in Databricks' shapes.

* ``POST /serving-endpoints/<name>/invocations`` with ``dataframe_split``,
  ``dataframe_records``, ``instances`` or ``inputs`` (and ``params``) answers
  ``{"predictions": ...}``, parsed and encoded by MLflow's own scoring code, so it behaves
  as ``mlflow models serve``. The ``served-model-name`` header names the version served.
* ``GET /api/2.0/serving-endpoints`` and ``GET /api/2.0/serving-endpoints/<name>``.

Every route needs a bearer token (``lakeloom tokens create``); scoring remembers a valid token
for five seconds. An endpoint that serves an
alias checks the registry at most once a second and swaps in the new version when the
alias moves; requests keep the old version until the new one has loaded (no restart).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from lakeloom.plugins.ml import store as ws_store
from lakeloom.plugins.ml.endpoints import EndpointSpec, all_endpoints
from lakeloom.plugins.ml.registry import model_location, pin_version
from lakeloom.server.auth import Principal, authenticate

if TYPE_CHECKING:
    from lakeloom.config import Workspace

log = logging.getLogger("lakeloom.serving")
ALIAS_CHECK_SECONDS = 1.0
TOKEN_CACHE_SECONDS = 5.0


class ServedModel:
    """The model an endpoint serves now, following its alias."""

    def __init__(self, spec: EndpointSpec, workspace: Workspace) -> None:
        self.spec = spec
        self.workspace = workspace
        self.version: int | None = None
        self.model: Any = None
        self.input_schema: Any = None
        self.error: str | None = None
        self.updated_ms = int(time.time() * 1000)
        self._checked = 0.0
        self._refresh = threading.Lock()

    @property
    def served_name(self) -> str:
        """Databricks' default served-entity name: ``<model>-<version>``."""
        return f"{self.spec.entity_name.rsplit('.', 1)[-1]}-{self.version}"

    def _target_version(self, registry_uri: str) -> int:
        version = pin_version(self.spec.model_uri, registry_uri)[2]
        assert version is not None
        return version

    def refresh(self, *, force: bool = False) -> None:
        """Load the alias's version if it moved (at most one refresh at a time; others go on)."""
        now = time.monotonic()
        if not force and (now - self._checked < ALIAS_CHECK_SECONDS or self.spec.alias is None and self.model):
            return
        if not self._refresh.acquire(blocking=force):
            return
        try:
            self._checked = time.monotonic()
            uri = ws_store.prepare(self.workspace)
            version = self._target_version(uri)
            if version != self.version or self.model is None:
                import mlflow.pyfunc

                model = mlflow.pyfunc.load_model(model_location(uri, f"models:/{self.spec.entity_name}/{version}"))
                self.model, self.input_schema = model, model.metadata.get_input_schema()
                self.version, self.error, self.updated_ms = version, None, int(time.time() * 1000)
                log.info("endpoint %s serves %s version %s", self.spec.name, self.spec.entity_name, version)
        except Exception as e:  # noqa: BLE001 - keep serving the loaded version; report on the endpoint
            self.error = f"{type(e).__name__}: {e}"
            log.warning("endpoint %s: cannot load %s: %s", self.spec.name, self.spec.model_uri, self.error)
        finally:
            self._refresh.release()

    def describe(self) -> dict[str, Any]:
        """The endpoint in the Serving API's ``ServingEndpointDetailed`` shape."""
        ready = self.model is not None
        entity = {"name": self.served_name, "entity_name": self.spec.entity_name,
                  "entity_version": str(self.version) if self.version is not None else None,
                  "state": {"deployment": "DEPLOYMENT_READY" if ready else "DEPLOYMENT_FAILED",
                            "deployment_state_message": self.error or ""}}
        return {"name": self.spec.name, "id": self.spec.name, "creator": "lakeloom",
                "creation_timestamp": self.updated_ms, "last_updated_timestamp": self.updated_ms,
                "state": {"ready": "READY" if ready else "NOT_READY", "config_update": "NOT_UPDATING"},
                "config": {"served_entities": [entity],
                           "traffic_config": {"routes": [{"served_model_name": self.served_name,
                                                          "traffic_percentage": 100}]}},
                "task": None, "tags": [{"key": "lakeloom.model_uri", "value": self.spec.model_uri}]}


class Endpoints:
    """The served endpoints of one workspace (loaded on first use)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._served: dict[str, ServedModel] | None = None
        self._lock = threading.Lock()

    def served(self) -> dict[str, ServedModel]:
        with self._lock:
            if self._served is None:
                self._served = {n: ServedModel(s, self.workspace) for n, s in all_endpoints(self.workspace).items()}
            return self._served

    def get(self, name: str) -> ServedModel:
        from lakeloom.server.errors import not_found

        served = self.served().get(name)
        if served is None:
            raise not_found(f"Endpoint with name '{name}' does not exist.")
        served.refresh(force=served.model is None)
        return served

    def warm(self) -> None:
        """Load every endpoint's model (in the background at start-up)."""
        for served in self.served().values():
            served.refresh(force=True)


def install_routes(app: FastAPI) -> Endpoints:
    """Add the serving routes to ``app`` (``app.state.ctx`` is the server context)."""
    endpoints = Endpoints(app.state.ctx.engine.workspace)

    tokens = _TokenCache()

    @app.post("/serving-endpoints/{name}/invocations", tags=["serving"])
    async def invocations(name: str, request: Request) -> Response:
        """Score a request with the endpoint's model (MLflow's scoring protocol); bearer token."""
        import anyio

        body = await request.body()
        content_type = request.headers.get("content-type") or "application/json"

        def handle() -> Response:  # one worker-thread hop for auth, model lookup and predict
            tokens.check(request)
            return _score(endpoints.get(name), body, content_type)

        return await anyio.to_thread.run_sync(handle)

    @app.get("/api/2.0/serving-endpoints", tags=["serving"])
    def list_endpoints(_: Principal = Depends(authenticate)) -> dict[str, Any]:
        """Every endpoint (``ServingEndpoint`` shape)."""
        return {"endpoints": [s.describe() for s in endpoints.served().values()]}

    @app.get("/api/2.0/serving-endpoints/{name}", tags=["serving"])
    def get_endpoint(name: str, _: Principal = Depends(authenticate)) -> dict[str, Any]:
        """One endpoint (``ServingEndpointDetailed`` shape)."""
        return endpoints.get(name).describe()

    def _score(served: ServedModel, body: bytes, content_type: str) -> Response:
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import scoring_server

        if served.model is None:
            return JSONResponse({"error_code": "RESOURCE_DOES_NOT_EXIST", "message":
                                 f"Endpoint {served.spec.name!r} has no model loaded: {served.error}"}, 503)
        try:
            result = scoring_server.invocations(body, content_type, served.model, served.input_schema)
        except MlflowException as e:
            return JSONResponse({"error_code": "BAD_REQUEST", "message": e.message}, 400)
        headers = {"served-model-name": served.served_name}
        if result.status != 200:
            return JSONResponse({"error_code": "BAD_REQUEST", "message": str(result.response)}, result.status,
                                headers=headers)
        return Response(result.response, result.status, headers=headers, media_type="application/json")

    threading.Thread(target=_warm_quietly, args=(endpoints,), name="lakeloom-serving-warmup", daemon=True).start()
    return endpoints


class _TokenCache:
    """Valid bearer tokens of recent scoring requests, for ``TOKEN_CACHE_SECONDS``: a
    single-row request should not cost a store lookup (a revoked token stops within that time)."""

    def __init__(self) -> None:
        self._valid: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        now = time.monotonic()
        with self._lock:
            if self._valid.get(header, 0.0) > now:
                return
        authenticate(request)  # raises 401 for a missing, wrong, expired or revoked token
        with self._lock:
            if len(self._valid) > 1000:
                self._valid.clear()
            self._valid[header] = now + TOKEN_CACHE_SECONDS


def _warm_quietly(endpoints: Endpoints) -> None:
    try:
        endpoints.warm()
    except Exception:  # noqa: BLE001 - a bad declaration is reported on first request
        log.exception("could not load the serving endpoints")
