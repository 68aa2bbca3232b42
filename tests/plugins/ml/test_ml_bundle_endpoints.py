"""A bundle's `model_serving_endpoints` are served after deploy and no longer after destroy
(`lakeloom_bundle_resource_removed`), without touching endpoints from lakeloom.yml."""
from __future__ import annotations

from pathlib import Path

from lakeloom.config import load_workspace
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.plugins.ml.endpoints import all_endpoints


def test_destroy_stops_serving_a_bundle_endpoint(tmp_path: Path) -> None:
    ws = load_workspace(tmp_path)
    pm = build_plugin_manager(ws.disabled_plugins)
    settings = {"name": "churn", "config": {"served_entities": [{"entity_name": "main.ml.churn",
                                                                   "entity_version": "2"}]}}
    assert pm.hook.lakeloom_bundle_resource(kind="model_serving_endpoints", key="churn_ep", settings=settings,
                                            bundle_root=tmp_path, workspace=ws) is True
    assert all_endpoints(ws)["churn"].model_uri == "models:/main.ml.churn/2"
    assert pm.hook.lakeloom_bundle_resource_removed(kind="model_serving_endpoints", key="churn_ep",
                                                    workspace=ws) is True
    assert "churn" not in all_endpoints(ws)
    assert pm.hook.lakeloom_bundle_resource_removed(kind="volumes", key="x", workspace=ws) is None
