"""Built-in plugin: ML training, batch scoring and model serving on MLflow (extra ``ml``).

* ``ml_training_task`` (``training``): run code inside an MLflow run, register the model
  under Unity Catalog rules, move an alias when a metric improves.
* ``model_inference_task`` (``inference``): score a table with ``mlflow.pyfunc.spark_udf``.
* Model Serving endpoints in ``lakeloom serve`` (``serving``).
* The workspace store under ``.lakeloom/mlflow/`` (``store``), which every task sees through
  ``MLFLOW_TRACKING_URI``, and MLflow entry points that send ``databricks`` /
  ``databricks-uc`` URIs to it (``stores``).

mlflow is imported only when an ML task runs or an endpoint is served.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugins.ml.settings import MlTrainingTask, ModelInferenceTask, validate_training
from lakeloom.plugin_api import StashKey, TaskOutput, TaskType

if TYPE_CHECKING:
    from pathlib import Path

    from lakeloom.config import Workspace
    from lakeloom.plugin_api import RunView, TaskContext
    from lakeloom.spec.models import Job


#: Set on runs whose start made ``databricks-uc`` the default registry.
DEFAULT_REGISTRY = StashKey[bool]()


def _mlflow_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlflow") is not None


def _train(ctx: TaskContext, settings: MlTrainingTask) -> TaskOutput:
    from lakeloom.plugins.ml.training import run_training

    return run_training(ctx, settings)


def _score(ctx: TaskContext, settings: ModelInferenceTask) -> TaskOutput:
    from lakeloom.plugins.ml.inference import run_inference

    return run_inference(ctx, settings)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """``ml_training_task`` and ``model_inference_task``."""
    return [
        TaskType("ml_training_task", MlTrainingTask, _train, validate=validate_training,
                 description="train with MLflow tracking, register and promote the model"),
        TaskType("model_inference_task", ModelInferenceTask, _score, needs_spark=True,
                 description="score a table with a registered model (mlflow.pyfunc.spark_udf)"),
    ]


@hookimpl
def lakeloom_before_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    """Point ``MLFLOW_TRACKING_URI`` at the workspace store for every task of the run, with
    ``databricks-uc`` as the default registry while the run lasts, when MLflow is installed
    (laying out the folder only: mlflow is not imported here)."""
    if _mlflow_installed():
        from lakeloom.plugins.ml.store import activate, use_default_registry

        activate(handle.workspace, create=False)
        use_default_registry()
        handle.stash[DEFAULT_REGISTRY] = True


@hookimpl
def lakeloom_after_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    """The run no longer needs the default registry (see ``lakeloom_before_run``)."""
    if handle.stash.get(DEFAULT_REGISTRY, False):
        from lakeloom.plugins.ml.store import release_default_registry

        release_default_registry()


@hookimpl
def lakeloom_server_app(app: Any, server: Any) -> None:
    """Serve the workspace's Model Serving endpoints and the dashboard's model pages (when
    MLflow is installed)."""
    if _mlflow_installed():
        from lakeloom.plugins.ml.model_page import install_model_page
        from lakeloom.plugins.ml.serving import install_routes

        install_routes(app)
        install_model_page(app)


@hookimpl
def lakeloom_bundle_resource(kind: str, key: str, settings: dict[str, Any], bundle_root: Path,
                             workspace: Workspace) -> bool | None:
    """Take a bundle's ``model_serving_endpoints``: ``lakeloom serve`` serves them."""
    if kind != "model_serving_endpoints":
        return None
    from lakeloom.plugins.ml.endpoints import deploy_bundle_endpoint

    deploy_bundle_endpoint(workspace, key, settings, source=f"{bundle_root}/databricks.yml: resources")
    return True


@hookimpl
def lakeloom_bundle_resource_removed(kind: str, key: str, workspace: Workspace) -> bool | None:
    """A destroyed bundle's serving endpoints are no longer served."""
    if kind != "model_serving_endpoints":
        return None
    from lakeloom.plugins.ml.endpoints import remove_bundle_endpoint

    remove_bundle_endpoint(workspace, key)
    return True
