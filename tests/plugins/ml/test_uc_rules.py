"""Unity Catalog's registry shapes over the local store (no Spark): a model or version with
no description reads back as "" (as the UC REST store's protobuf default), not None."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lakeloom.plugins.ml.uc_rules import UnityCatalogRegistry


@pytest.fixture
def registry(tmp_path: Path) -> UnityCatalogRegistry:
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return UnityCatalogRegistry(lambda: store)


def _model_with_signature(tmp_path: Path) -> str:
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input * 2

    x = pd.DataFrame({"a": [1.0, 2.0]})
    path = tmp_path / "model"
    mlflow.pyfunc.save_model(str(path), python_model=Doubler(), signature=infer_signature(x, x * 2))
    return str(path)


def test_descriptions_read_back_empty_not_none(registry: UnityCatalogRegistry, tmp_path: Path) -> None:
    assert registry.create_registered_model("main.ml.m").description == ""
    version = registry.create_model_version("main.ml.m", _model_with_signature(tmp_path))
    assert version.description == ""
    assert registry.get_model_version("main.ml.m", version.version).description == ""
    assert [v.description for v in registry.search_model_versions("name='main.ml.m'")] == [""]
    assert registry.get_registered_model("main.ml.m").description == ""
    assert [m.description for m in registry.search_registered_models()] == [""]
    # Databricks' MLOps template appends to it: `if description != "": description += ...`
    registry.update_model_version("main.ml.m", version.version, "validated")
    assert registry.get_model_version("main.ml.m", version.version).description == "validated"
