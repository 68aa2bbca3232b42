"""An unmodified Databricks notebook (tracking `databricks`, registry `databricks-uc`,
`registered_model_name=` a three-level name) trains and registers into the workspace store."""
from __future__ import annotations

import json
import os
from typing import Any, Iterator

import pytest
from ml_helpers import MlWorkspace

pytestmark = pytest.mark.spark

NOTEBOOK = '''# Databricks notebook source
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

mlflow.set_tracking_uri("databricks")
mlflow.set_registry_uri("databricks-uc")
mlflow.set_experiment("/Users/someone@example.com/nb-churn")

# COMMAND ----------

rng = np.random.RandomState(7)
X = pd.DataFrame({"a": rng.rand(80), "b": rng.rand(80)})
y = (X.a > X.b).astype(int)
with mlflow.start_run() as run:
    model = LogisticRegression().fit(X, y)
    mlflow.log_metric("accuracy", model.score(X, y))
    mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, model.predict(X)),
                             registered_model_name="main.ml.x")

# COMMAND ----------

client = mlflow.MlflowClient()
client.set_registered_model_alias("main.ml.x", "champion", 1)
loaded = mlflow.pyfunc.load_model("models:/main.ml.x@champion")
try:
    client.transition_model_version_stage("main.ml.x", 1, "Production")
    stage = "allowed"
except Exception as e:
    stage = str(e).split(".")[0]
dbutils.notebook.exit(json.dumps({"run_id": run.info.run_id, "pred": loaded.predict(X[:3]).tolist(),
                                  "stage": stage, "uri": mlflow.get_tracking_uri()}))
'''


@pytest.fixture
def notebook_ws(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlWorkspace]:
    ws = MlWorkspace(tmp_path_factory.mktemp("ml-notebook"), module="ml_nb_code")
    (ws.root / "train_nb.py").write_text(NOTEBOOK.replace("import mlflow\n", "import json\nimport mlflow\n", 1))
    yield ws
    import mlflow

    mlflow.set_tracking_uri(None)  # the notebook set MLflow's process-wide URIs: leave them as found
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    ws.close()


def test_databricks_notebook_runs_unmodified(notebook_ws: MlWorkspace) -> None:
    ws = notebook_ws
    rows = ws.run([{"task_key": "nb", "notebook_task": {"notebook_path": "../train_nb"}}], name="nb-job")
    assert rows["nb"].result_state == "SUCCESS", rows["nb"].state_message
    result = json.loads(rows["nb"].output["notebook_output"]["result"])
    assert result["uri"] == "databricks" and len(result["pred"]) == 3
    assert result["stage"] == "Method 'transition_model_version_stage' is unsupported for models in the Unity Catalog"

    from mlflow import MlflowClient

    from lakeloom.plugins.ml.store import tracking_uri

    local = MlflowClient(tracking_uri=tracking_uri(ws.workspace), registry_uri=tracking_uri(ws.workspace))
    version = local.get_model_version_by_alias("main.ml.x", "champion")
    assert int(version.version) == 1 and version.run_id == result["run_id"]
    run = local.get_run(result["run_id"])
    assert run.data.tags["lakeloom.task_key"] == "nb" and "accuracy" in run.data.metrics
    experiment = local.get_experiment(run.info.experiment_id)
    assert experiment.name == "/Users/someone@example.com/nb-churn"
    assert experiment.artifact_location.startswith((ws.root / ".lakeloom" / "mlflow" / "artifacts").resolve().as_uri())
