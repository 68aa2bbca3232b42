"""Training → registration → promotion when better, none when worse → batch scoring, on a
real MLflow store, real scikit-learn models and a real Spark UDF on the session `spark`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from ml_helpers import MlWorkspace, ml_output, task_values

pytestmark = pytest.mark.spark

MODEL = "main.ml.churn"


def _train(ws: MlWorkspace, flip: float) -> dict[str, Any]:
    return {"task_key": "train", "ml_training_task": {
        "function": ws.fn("train"), "parameters": {"flip": flip}, "experiment": "/Users/me@example.com/churn",
        "registered_model": MODEL,
        "promotion": {"metric": "accuracy", "goal": "maximize", "alias": "champion", "min_delta": 0.01}}}


def _gated_scoring(mode: str = "overwrite") -> list[dict[str, Any]]:
    return [
        {"task_key": "is_promoted", "depends_on": [{"task_key": "train"}],
         "condition_task": {"op": "EQUAL_TO", "left": "{{tasks.train.values.promoted}}", "right": "true"}},
        {"task_key": "score", "depends_on": [{"task_key": "is_promoted", "outcome": "true"}],
         "model_inference_task": {"model": f"models:/{MODEL}@champion", "input_table": "main.ml.customers",
                                  "output_table": "main.ml.scores", "mode": mode, "result_column": "churn"}},
    ]


@pytest.fixture(scope="module")
def lifecycle(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlWorkspace, list[dict]]]:
    ws = MlWorkspace(tmp_path_factory.mktemp("ml-lifecycle"))
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.ml")
    import ml_train_code

    X, _ = ml_train_code.data(seed=2, n=50)
    spark.createDataFrame(X.assign(id=range(50))).write.format("delta").mode("overwrite") \
        .saveAsTable("main.ml.customers")
    runs = [ws.run([_train(ws, 0.35), *_gated_scoring()]),   # first version: always promoted
            ws.run([_train(ws, 0.0), *_gated_scoring()]),    # better by > min_delta: promoted
            ws.run([_train(ws, 0.35), *_gated_scoring()])]   # worse: registered, not promoted
    yield ws, runs
    spark.sql("DROP TABLE IF EXISTS main.ml.customers")
    spark.sql("DROP TABLE IF EXISTS main.ml.scores")
    ws.close()


def test_each_training_registers_a_version_and_promotes_only_when_better(lifecycle) -> None:  # noqa: ANN001
    ws, runs = lifecycle
    for rows in runs:
        assert rows["train"].result_state == "SUCCESS", rows["train"].state_message
    outs = [ml_output(rows["train"]) for rows in runs]
    assert [o["model_version"] for o in outs] == [1, 2, 3]
    assert [o["promoted"] for o in outs] == [True, True, False]
    assert outs[1]["metric"] > outs[0]["metric"] + 0.01 and outs[2]["metric"] < outs[1]["metric"]
    assert outs[2]["previous_version"] == 2 and "kept @champion on version 2" in outs[2]["promotion_reason"]
    values = task_values(ws.engine, runs[2]["train"])
    assert values == {"model_version": 3, "promoted": False, "metric": outs[2]["metric"],
                      "run_id": outs[2]["run_id"]}
    from mlflow import MlflowClient

    from lakeloom.plugins.ml.store import tracking_uri

    client = MlflowClient(tracking_uri=tracking_uri(ws.workspace), registry_uri=tracking_uri(ws.workspace))
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == 2


def test_the_mlflow_run_is_tagged_and_stored_in_the_workspace(lifecycle) -> None:  # noqa: ANN001
    ws, runs = lifecycle
    import mlflow
    from mlflow import MlflowClient

    from lakeloom.plugins.ml.store import tracking_uri

    out = ml_output(runs[0]["train"])
    assert out["params"]["flip"] == "0.35" and "accuracy" in out["metrics"]
    assert mlflow.get_tracking_uri() == tracking_uri(ws.workspace)
    assert tracking_uri(ws.workspace).startswith(f"sqlite:///{ws.root.resolve()}/.lakeloom/mlflow/mlflow.db")
    client = MlflowClient(tracking_uri=tracking_uri(ws.workspace))
    run = client.get_run(out["run_id"])
    assert run.data.tags["lakeloom.task_key"] == "train"
    assert run.data.tags["lakeloom.job_run_id"] == str(runs[0]["train"].run_id)
    assert run.data.tags["lakeloom.job_id"] == str(ws.engine.store.get_run(runs[0]["train"].run_id).job_id)
    experiment = client.get_experiment(out["experiment_id"])
    assert experiment.name == "/Users/me@example.com/churn"
    artifacts = (ws.root / ".lakeloom" / "mlflow" / "artifacts").resolve()
    assert experiment.artifact_location.startswith(artifacts.as_uri())
    assert not (Path.cwd() / "mlruns").exists() and not (ws.root / "mlruns").exists()


def test_scoring_runs_only_after_a_promotion_and_records_the_version(lifecycle, spark) -> None:  # noqa: ANN001
    ws, runs = lifecycle
    states = [rows["score"].result_state for rows in runs]
    assert states == ["SUCCESS", "SUCCESS", "EXCLUDED"], [r["score"]["state_message"] for r in runs]
    out = ml_output(runs[1]["score"])
    assert out["model_uri"] == f"models:/{MODEL}/2" and out["model_version"] == 2
    assert task_values(ws.engine, runs[1]["score"])["model_version"] == 2
    scored = spark.table("main.ml.scores").toPandas().sort_values("id")
    assert len(scored) == 50 and set(scored["churn"]) <= {0.0, 1.0}
    import ml_train_code
    import mlflow

    X, _ = ml_train_code.data(seed=2, n=50)
    expected = mlflow.pyfunc.load_model(f"models:/{MODEL}/2").predict(X)
    assert list(scored["churn"]) == [float(v) for v in expected]


def test_merge_mode_updates_rows_in_place(lifecycle, spark) -> None:  # noqa: ANN001
    ws, _ = lifecycle
    rows = ws.run([{"task_key": "score", "model_inference_task": {
        "model": f"models:/{MODEL}/1", "input_table": "main.ml.customers", "output_table": "main.ml.scores",
        "mode": "merge", "merge_keys": ["id"], "result_column": "churn"}}], name="rescore")
    assert rows["score"].result_state == "SUCCESS", rows["score"].state_message
    out = ml_output(rows["score"])
    assert out["write_metrics"]["operation"] == "MERGE" and out["model_version"] == 1
    assert spark.table("main.ml.scores").count() == 50
