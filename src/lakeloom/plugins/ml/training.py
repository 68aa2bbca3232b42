"""``ml_training_task``: run training code inside an MLflow run, register the model it logged,
promote it by metric.

A ``function`` runs inside an MLflow run the task starts (tagged with job id, run id and task
key; autolog on). A ``python_file`` or ``notebook_path`` usually starts its own runs, as
Databricks code does: the task sets the experiment, and MLflow's run-context plugin tags
every run started during the task. The model registered is the one the code returned, else
the last one it logged.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from lakeloom.plugin_api import TaskOutput
from lakeloom.plugins.ml import mlflow_compat
from lakeloom.plugins.ml import store as ws_store
from lakeloom.plugins.ml.experiments import TAG_RUN_ID, TAG_TASK_KEY, experiment_id_for, run_tags
from lakeloom.plugins.ml.promotion import MlTaskError, register_and_promote
from lakeloom.plugins.ml.settings import MlTrainingTask

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext

_autolog_on = False
#: MLflow keeps autologging state (on/off, the training session a patched ``fit`` belongs to)
#: per process, not per thread: a second task's ``fit`` running at the same time is taken for a
#: nested call and not logged. Training code of ML tasks therefore runs one task at a time per
#: process; registration, promotion and scoring still run in parallel.
_training_lock = threading.Lock()


@contextmanager
def _training_session(autolog: bool) -> Iterator[None]:
    """Run training code alone, with autolog on for every installed framework or off."""
    global _autolog_on
    import mlflow
    from mlflow.utils.autologging_utils import disable_autologging

    with _training_lock:
        if autolog:
            if not _autolog_on:
                mlflow_compat.install()  # else autolog can deadlock with another task's imports  # Spark datasource autologging needs a JAR lakeloom does not ship
                mlflow.autolog(silent=True, exclude_flavors=["spark"])
                _autolog_on = True
            yield
        else:
            with disable_autologging():
                yield


def run_training(ctx: TaskContext, settings: MlTrainingTask) -> TaskOutput:
    """Train, register, promote; set task values ``model_version``, ``promoted``, ``metric``, ``run_id``."""
    import mlflow
    from mlflow import MlflowClient

    uri = ws_store.activate(ctx.workspace)
    experiment = settings.experiment or ctx.job_name
    experiment_id = experiment_id_for(ctx.workspace, experiment)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    started_ms = int(time.time() * 1000) - 1
    returned: Any = None
    if settings.function:
        with _training_session(settings.autolog), mlflow.start_run(
                experiment_id=experiment_id, tags=run_tags(ctx), run_name=f"{ctx.job_name}/{ctx.task_key}") as run:
            returned = _call_function(ctx, settings)
            run_id = run.info.run_id
            model_uri = _returned_model_uri(returned, settings, ctx)
    else:
        with _training_session(settings.autolog):
            mlflow.set_experiment(experiment_id=experiment_id)
            _run_file_or_notebook(ctx, settings)
        run_id = _latest_task_run(client, experiment_id, ctx, started_ms, settings.source_field)
        model_uri = None
    if model_uri is None and settings.registered_model is not None:
        model_uri = _last_logged_model(client, experiment_id, ctx, run_id, settings)
    outcome = register_and_promote(ctx, client, settings, run_id=run_id, model_uri=model_uri)
    run = client.get_run(run_id)
    values = {"run_id": run_id, "model_version": outcome.version, "promoted": outcome.promoted,
              "metric": outcome.metric}
    for key, value in values.items():
        ctx.task_values.set(key, value)
    ml_output = {"experiment_id": experiment_id, "experiment": experiment, "run_id": run_id,
                 "metrics": dict(run.data.metrics), "params": dict(run.data.params),
                 "model_uri": model_uri, **outcome.as_output()}
    if returned is not None and not _is_model(returned):
        ml_output["result"] = returned
    print(outcome.describe())
    return TaskOutput(output={"ml_output": ml_output})


def _python_task_types() -> dict[str, Any]:
    from lakeloom.plugins import python_tasks

    return {tt.key: tt for tt in python_tasks.lakeloom_task_types()}


def _call_function(ctx: TaskContext, settings: MlTrainingTask) -> Any:
    """The function runs as a ``python_task`` would (tasks.py beside the job file imports)."""
    from lakeloom.plugins.python_tasks import PythonTask

    task = PythonTask(function=str(settings.function), parameters=dict(settings.parameters))
    output = _python_task_types()["python_task"].run(ctx, task)
    return (output.output if output else {}).get("result")


def _run_file_or_notebook(ctx: TaskContext, settings: MlTrainingTask) -> None:
    """A notebook runs as a ``notebook_task``, a file as a ``spark_python_task`` (parameters
    as ``--name=value`` arguments)."""
    if settings.notebook_path:
        from lakeloom.plugins.notebook_task import NotebookTaskSettings, run_notebook_task

        params = {k: str(v) for k, v in settings.parameters.items()}
        run_notebook_task(ctx, NotebookTaskSettings(notebook_path=settings.notebook_path, base_parameters=params))
        return
    from lakeloom.plugins.python_tasks import SparkPythonTask

    argv = [f"--{k}={v}" for k, v in settings.parameters.items()]
    _python_task_types()["spark_python_task"].run(
        ctx, SparkPythonTask(python_file=str(settings.python_file), parameters=argv))


def _is_model(value: Any) -> bool:
    return hasattr(value, "predict") or (isinstance(value, str) and value.startswith(("models:/", "runs:/")))


def _returned_model_uri(returned: Any, settings: MlTrainingTask, ctx: TaskContext) -> str | None:
    """A model the function returned: a model URI, or a fitted model (logged here)."""
    if isinstance(returned, str) and returned.startswith(("models:/", "runs:/")):
        return returned
    if hasattr(returned, "predict"):
        import mlflow

        flavor = mlflow.sklearn if type(returned).__module__.startswith("sklearn") else None
        if flavor is None:
            raise MlTaskError(ctx, "function", f"{settings.function} returned a {type(returned).__name__}, which "
                              "lakeloom cannot log; log it with mlflow.<flavor>.log_model and return nothing")
        return str(flavor.log_model(returned, name="model").model_uri)
    return None


def _latest_task_run(client: Any, experiment_id: str, ctx: TaskContext, started_ms: int, field: str) -> str:
    """The last MLflow run this attempt started (found by the tags every task run carries)."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_RUN_ID}` = '{ctx.run_id}' and tags.`{TAG_TASK_KEY}` = "
        f"'{ctx.task_key}' and attributes.start_time >= {started_ms}",
        order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        runs = client.search_runs(  # the code chose its own experiment
            [e.experiment_id for e in client.search_experiments()],
            filter_string=f"tags.`{TAG_RUN_ID}` = '{ctx.run_id}' and tags.`{TAG_TASK_KEY}` = '{ctx.task_key}'",
            order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        raise MlTaskError(ctx, field, "no model logged: the code started no MLflow run and logged no model (call mlflow.start_run() and "
                          "mlflow.<flavor>.log_model, or keep autolog on)")
    return str(runs[0].info.run_id)


def _last_logged_model(client: Any, experiment_id: str, ctx: TaskContext, run_id: str,
                       settings: MlTrainingTask) -> str:
    run = client.get_run(run_id)
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id, experiment_id],
        filter_string=f"source_run_id = '{run_id}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}], max_results=1)
    if not models:
        raise MlTaskError(ctx, settings.source_field,
                          f"no model logged: MLflow run {run_id} logged no model (log one with "
                          "mlflow.<flavor>.log_model, keep autolog on, or return the fitted model)")
    return f"models:/{models[0].model_id}"
