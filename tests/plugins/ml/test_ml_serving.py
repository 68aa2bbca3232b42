"""Serving endpoints in a real `lakeloom serve` app on 127.0.0.1, driven by databricks-sdk:
the endpoint follows its alias without a restart; the read endpoints answer as Databricks."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, Unauthenticated
from databricks.sdk.service.serving import DataframeSplitInput
from ml_helpers import TRAIN_MODULE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))  # the live-server helpers
from serving import LiveServer, wait_until  # noqa: E402

MODEL = "main.ml.served"


def _register(uri: str, coef_sign: float) -> int:
    """Register a fitted model whose predictions are all 1 (sign +) or all 0 (sign -)."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyClassifier

    X = pd.DataFrame({"f1": np.arange(6) / 6.0, "f2": np.ones(6), "f3": np.zeros(6)})
    y = np.full(6, 1 if coef_sign > 0 else 0)
    model = DummyClassifier(strategy="constant", constant=y[0]).fit(X, y)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, model.predict(X)),
                                        registered_model_name=MODEL)
    return int(info.registered_model_version)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, Any]]:
    import mlflow
    from mlflow import MlflowClient

    from lakeloom.config import load_workspace
    from lakeloom.plugins.ml.store import prepare

    root = tmp_path_factory.mktemp("ml-serving")
    (root / "conf").mkdir()
    (root / "conf" / "lakeloom.yml").write_text(yaml.safe_dump({
        "server": {"warm_spark": False},
        "serving": {"endpoints": {"churn": {"model": f"models:/{MODEL}@champion"},
                                  "pinned": {"model": f"models:/{MODEL}/1"}}}}))
    (root / "ml_train_code.py").write_text(TRAIN_MODULE)
    uri = prepare(load_workspace(root))
    try:
        assert _register(uri, +1) == 1 and _register(uri, -1) == 2
    finally:
        mlflow.set_tracking_uri(None)  # leave MLflow's process-wide URI as the tests found it
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.set_registered_model_alias(MODEL, "champion", "1")
    srv = LiveServer(root, scheduler=False)
    yield srv, uri, client
    srv.close()


def _sdk(srv: LiveServer) -> WorkspaceClient:
    return WorkspaceClient(host=srv.url, token=srv.token("alice"), auth_type="pat")


def test_query_shapes_and_alias_following(served) -> None:  # noqa: ANN001
    srv, _, client = served
    w = _sdk(srv)
    split = DataframeSplitInput(columns=["f1", "f2", "f3"], data=[[0.2, 1.0, 0.0], [0.9, 1.0, 0.0]])
    first = w.serving_endpoints.query("churn", dataframe_split=split)
    assert first.predictions == [1, 1] and first.served_model_name == "served-1"
    records = w.serving_endpoints.query("churn", dataframe_records=[{"f1": 0.1, "f2": 1.0, "f3": 0.0}])
    assert records.predictions == [1]
    instances = w.serving_endpoints.query("churn", instances=[{"f1": 0.1, "f2": 1.0, "f3": 0.0}])
    assert instances.predictions == [1]
    inputs = w.serving_endpoints.query("churn", inputs={"f1": [0.1], "f2": [1.0], "f3": [0.0]})
    assert inputs.predictions == [1]

    client.set_registered_model_alias(MODEL, "champion", "2")  # the alias moves: no restart
    moved = wait_until(lambda: (r := w.serving_endpoints.query("churn", dataframe_split=split))
                       .served_model_name == "served-2" and r, timeout=30)
    assert moved.predictions == [0, 0]
    assert w.serving_endpoints.query("pinned", dataframe_split=split).predictions == [1, 1]


def test_read_endpoints_and_errors(served) -> None:  # noqa: ANN001
    srv, _, client = served
    w = _sdk(srv)
    names = sorted(e.name for e in w.serving_endpoints.list())
    assert names == ["churn", "pinned"]
    pinned = w.serving_endpoints.get("pinned")
    assert pinned.state.ready.value == "READY"
    entity = pinned.config.served_entities[0]
    assert (entity.entity_name, entity.entity_version) == (MODEL, "1")
    with pytest.raises(NotFound, match="Endpoint with name 'nope' does not exist"):
        w.serving_endpoints.query("nope", inputs=[1])
    import httpx

    bad = httpx.post(f"{srv.url}/serving-endpoints/churn/invocations", json={"dataframe_records": [{"f1": 1}]},
                     headers={"Authorization": f"Bearer {srv.token('bob')}"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "BAD_REQUEST"
    with pytest.raises(Unauthenticated):
        WorkspaceClient(host=srv.url, token="wrong", auth_type="pat").serving_endpoints.get("churn")


def test_hook_lakeloom_server_app(tmp_path: Path) -> None:
    """A plugin adds a route to the serve app; lakeloom's own ML plugin serves endpoints this way."""
    import httpx
    import uvicorn

    from lakeloom import hookimpl
    from lakeloom.config import load_workspace
    from lakeloom.engine.api import Engine
    from lakeloom.engine.executor import RunExecutor
    from lakeloom.plugin_manager import build_plugin_manager
    from lakeloom.server.app import create_app
    from lakeloom.server.context import ServerContext
    from serving import free_port

    class Hello:
        @hookimpl
        def lakeloom_server_app(self, app: Any, server: Any) -> None:
            @app.get("/hello")
            def hello() -> dict[str, str]:
                return {"workspace": str(server.engine.workspace.root)}

    ws = load_workspace(tmp_path)
    engine = Engine.open(ws, build_plugin_manager(extra_plugins=[Hello()]))
    app = create_app(ServerContext.for_engine(engine, RunExecutor(engine)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    import threading

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20)
        assert httpx.get(f"http://127.0.0.1:{port}/hello").json() == {"workspace": str(tmp_path.resolve())}
        listed = httpx.get(f"http://127.0.0.1:{port}/api/2.0/serving-endpoints")
        assert listed.status_code == 401  # the ML plugin's routes are there too, behind a token
    finally:
        server.should_exit = True
        thread.join(20)
        engine.store.close()


def test_dashboard_shows_the_mlflow_run_version_and_promotion(served) -> None:  # noqa: ANN001
    from dashboard_env import signed_in

    srv, _, _ = served
    root = srv.service.engine.workspace.root
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    job = root / "jobs" / "dash.yml"
    job.parent.mkdir(exist_ok=True)
    job.write_text(yaml.safe_dump({"name": "dash", "tasks": [{"task_key": "train", "ml_training_task": {
        "function": "ml_train_code:train", "parameters": {"flip": 0.1}, "registered_model": "main.ml.dash",
        "promotion": {"metric": "accuracy"}}}]}))
    run = srv.service.engine.submit(str(job))
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    ui = signed_in(srv, srv.token("carol", admin=True))
    page = ui.get(f"/runs/{run['run_id']}?task=train").text
    assert "Promoted to @champion" in page and 'href="/models/main.ml.dash"' in page
    assert '<strong class="ml-version">1</strong>' in page and "<td>accuracy</td>" in page and "<td>flip</td>" in page
    job_page = ui.get(f"/jobs/{run['job_id']}").text
    assert '<a href="/models/main.ml.dash">main.ml.dash</a>' in job_page
    model_page = ui.get("/models/main.ml.dash").text
    assert "<strong>@champion</strong> → 1" in model_page and f'href="/runs/{run["run_id"]}"' in model_page
    assert ui.get("/models/main.ml.nope").status_code == 404
