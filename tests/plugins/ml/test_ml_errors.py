"""Bad ML input fails with an error naming the file, the task and the field; parallel tasks
share the store without `database is locked`."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from ml_helpers import MlWorkspace, ml_output, task_values

from lakeloom.engine.validate import validate_file
from lakeloom.plugin_manager import build_plugin_manager


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlWorkspace]:
    w = MlWorkspace(tmp_path_factory.mktemp("ml-errors"), module="ml_err_code")
    yield w
    w.close()


def _task(ws: MlWorkspace, key: str, fn: str, **extra: object) -> dict:
    return {"task_key": key, "ml_training_task": {"function": ws.fn(fn), "registered_model": "main.ml.errs",
                                                  **extra}}


def test_runtime_errors_name_file_task_and_field(ws: MlWorkspace) -> None:
    promotion = {"metric": "accuracy"}
    rows = ws.run([_task(ws, "no_metric", "train_no_metric", promotion=promotion),
                   _task(ws, "no_model", "log_nothing", autolog=False, promotion=promotion),
                   _task(ws, "no_signature", "no_signature", autolog=False, promotion=promotion)], name="errs")
    job_file = str(ws.root / "jobs" / f"errs-{ws._n}.yml")
    messages = {k: r.state_message for k, r in rows.items()}
    assert {r.result_state for r in rows.values()} == {"FAILED"}, messages
    assert messages["no_metric"].startswith(
        f"MlTaskError: {job_file}: task 'no_metric': field 'ml_training_task.promotion.metric': metric 'accuracy' was never "
        "logged by MLflow run ")
    assert "(logged: " in messages["no_metric"] and "training_score" in messages["no_metric"]
    assert messages["no_model"].startswith(f"MlTaskError: {job_file}: task 'no_model': field 'ml_training_task.function': "
                                           "no model logged: MLflow run ")
    assert messages["no_signature"].startswith(
        f"MlTaskError: {job_file}: task 'no_signature': field 'ml_training_task.function': the model logged by MLflow run ")
    assert ("Model passed for registration did not contain any signature metadata. All models in the Unity "
            "Catalog must be logged with a model signature") in messages["no_signature"]


def test_a_returned_model_uri_is_registered_without_promotion(ws: MlWorkspace) -> None:
    rows = ws.run([{"task_key": "t", "ml_training_task": {"function": ws.fn("returns_model"), "autolog": False,
                                                          "registered_model": "main.ml.returned"}}])
    assert rows["t"].result_state == "SUCCESS", rows["t"].state_message
    out = ml_output(rows["t"])
    assert out["model_version"] == 1 and out["promoted"] is False and out["alias"] is None
    assert out["experiment"] == "churn"  # default experiment: the job's name
    assert task_values(ws.engine, rows["t"])["model_version"] == 1


def test_parallel_tasks_share_the_store(ws: MlWorkspace) -> None:
    """Plain Python tasks logging at once through MLFLOW_TRACKING_URI; runs started without an
    experiment land in the job's, tagged with the task that started them."""
    tasks = [{"task_key": f"w{i}", "python_task": {"function": ws.fn("busy"), "parameters": {"i": i}}}
             for i in range(4)]
    rows = ws.run(tasks, name="parallel")
    assert {k: r.result_state for k, r in rows.items()} == {f"w{i}": "SUCCESS" for i in range(4)}, \
        {k: r.state_message for k, r in rows.items()}
    from mlflow import MlflowClient

    from lakeloom.plugins.ml.store import tracking_uri

    client = MlflowClient(tracking_uri=tracking_uri(ws.workspace))
    for i in range(4):
        run = client.get_run(rows[f"w{i}"].output["result"])
        assert run.data.tags["worker"] == str(i) and len(client.get_metric_history(run.info.run_id, "loss")) == 40
        assert run.data.tags["lakeloom.task_key"] == f"w{i}"
        assert client.get_experiment(run.info.experiment_id).name == "parallel"


def test_validate_names_the_bad_field(tmp_path: Path) -> None:
    job = tmp_path / "bad.yml"
    job.write_text("name: bad\ntasks:\n"
                   "  - task_key: train\n"
                   "    ml_training_task:\n"
                   "      function: 'pkg.mod:train'\n"
                   "      registered_model: churn\n"
                   "  - task_key: both\n"
                   "    ml_training_task: {function: 'm:f', python_file: t.py}\n"
                   "  - task_key: score\n"
                   "    model_inference_task: {model: 'models:/churn@champion', input_table: a, output_table: b,"
                   " mode: merge}\n")
    _, problems = validate_file(job, build_plugin_manager())
    text = "\n".join(p.format() for p in problems)
    assert f"{job}:6: task 'train': field 'ml_training_task.registered_model'" in text
    assert "'churn' is not a Unity Catalog name catalog.schema.model" in text
    assert "task 'both'" in text and "exactly one of function, python_file or notebook_path" in text
    assert "task 'score'" in text and "not a Unity Catalog name" in text


def test_bundle_serving_endpoints_are_deployed_for_serve(tmp_path: Path) -> None:
    from lakeloom.config import load_workspace
    from lakeloom.plugins.ml.endpoints import EndpointConfigError, all_endpoints

    ws = load_workspace(tmp_path)
    hook = build_plugin_manager().hook.lakeloom_bundle_resource
    settings = {"name": "churn", "config": {"served_entities": [{"entity_name": "main.ml.churn"}]}}
    assert hook(kind="model_serving_endpoints", key="churn_ep", settings=settings, bundle_root=tmp_path,
                workspace=ws) is True
    pinned = {"config": {"served_entities": [{"entity_name": "main.ml.churn", "entity_version": "3"}]}}
    assert hook(kind="model_serving_endpoints", key="pinned", settings=pinned, bundle_root=tmp_path, workspace=ws)
    assert {n: s.model_uri for n, s in all_endpoints(load_workspace(tmp_path)).items()} == {
        "churn": "models:/main.ml.churn@champion", "pinned": "models:/main.ml.churn/3"}
    with pytest.raises(EndpointConfigError, match=r"model_serving_endpoints.bad: field 'config.served_entities'"):
        hook(kind="model_serving_endpoints", key="bad", settings={"config": {}}, bundle_root=tmp_path, workspace=ws)


def test_validate_imports_no_mlflow(tmp_path: Path) -> None:
    import subprocess
    import sys

    job = tmp_path / "ok.yml"
    job.write_text("name: ok\ntasks:\n  - task_key: t\n    ml_training_task: {function: 'm:f', registered_model: a.b.c}\n")
    code = ("import sys\nfrom lakeloom.engine.validate import validate_file\n"
            "from lakeloom.plugin_manager import build_plugin_manager\n"
            f"d, e = validate_file({str(job)!r}, build_plugin_manager())\n"
            "assert not [x for x in e if x.severity == 'error'], e\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'sklearn', 'pyspark')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
