"""While a run is active, code that names no registry registers into Unity Catalog, as on
Databricks (whose tracking URI `databricks` implies the `databricks-uc` registry): three-level
names, "" descriptions. No Spark: the ML plugin's run hooks are called as the engine calls them."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from lakeloom.config import load_workspace
from lakeloom.plugin_api import Stash
from lakeloom.plugins import ml
from lakeloom.plugins.ml import store


def _handle(root: Path) -> SimpleNamespace:
    return SimpleNamespace(workspace=load_workspace(root), stash=Stash())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.setenv(name, "")  # restored (removed) at teardown
        monkeypatch.delenv(name)
    monkeypatch.setattr(store, "_active", None)
    monkeypatch.setattr(store, "_registry_users", 0)
    monkeypatch.setattr(store, "_registry_owned", False)
    # an earlier test's mlflow.set_registry_uri/set_tracking_uri would win over the environment
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    yield


def test_the_default_registry_is_unity_catalog_while_a_run_is_active(tmp_path: Path, clean_env: None) -> None:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    first, second = _handle(tmp_path), _handle(tmp_path)
    ml.lakeloom_before_run(run={}, job=None, handle=first)
    ml.lakeloom_before_run(run={}, job=None, handle=second)  # two runs at once (serve)
    uri = store.prepare(first.workspace)
    assert mlflow.get_registry_uri() == "databricks-uc"
    client = MlflowClient()
    with pytest.raises(MlflowException, match="must specify all three levels"):
        client.create_registered_model("churn")
    assert client.create_registered_model("main.ml.churn").description == ""
    assert MlflowClient(registry_uri=uri).get_registered_model("main.ml.churn").name == "main.ml.churn"
    ml.lakeloom_after_run(run={}, job=None, handle=first)
    assert os.environ["MLFLOW_REGISTRY_URI"] == "databricks-uc"  # the other run is still going
    ml.lakeloom_after_run(run={}, job=None, handle=second)
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    ml.lakeloom_after_run(run={}, job=None, handle=_handle(tmp_path))  # a run that never started
    assert "MLFLOW_REGISTRY_URI" not in os.environ


def test_a_registry_named_by_the_environment_is_kept(tmp_path: Path, clean_env: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///elsewhere.db")
    handle = _handle(tmp_path)
    ml.lakeloom_before_run(run={}, job=None, handle=handle)
    assert os.environ["MLFLOW_REGISTRY_URI"] == "sqlite:///elsewhere.db"
    ml.lakeloom_after_run(run={}, job=None, handle=handle)
    assert os.environ["MLFLOW_REGISTRY_URI"] == "sqlite:///elsewhere.db"
