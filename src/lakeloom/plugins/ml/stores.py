"""MLflow store plugins, registered through MLflow's own entry points (pyproject.toml).

MLflow resolves a store from the URI's scheme, registering its built-ins first and then
every entry point into the same table, so lakeloom's entry points named ``databricks``,
``databricks-uc`` and ``uc`` replace MLflow's REST stores: unmodified Databricks code that
calls ``mlflow.set_tracking_uri("databricks")`` or ``mlflow.set_registry_uri("databricks-uc")``
reaches the current workspace's local store. MLflow caches a store per URI for the whole
process, so these stores resolve the workspace on every call (the running task's).

Other MLflow logic still keys on ``is_databricks_uri()``; where that would call a Databricks
workspace, another entry point takes over:

* ``models`` artifact repository: ``models:/<name>@<alias>`` under a Databricks registry
  URI would download through Unity Catalog's REST API; here it resolves in the local store.
* default experiment provider: with ``databricks`` tracking MLflow has no default
  experiment outside a notebook; inside a task it is the job's experiment.
* run context provider: every run started inside a task is tagged with the job, run and
  task it belongs to.

The ``sqlite`` tracking store is MLflow's own, except that a lakeloom workspace database
keeps its artifacts beside it instead of in ``./mlruns`` of the current directory.
"""
from __future__ import annotations

from typing import Any

from lakeloom.plugins.ml import store as ws_store
from lakeloom.plugins.ml.uc_rules import UnityCatalogRegistry

#: Registry URIs that lakeloom serves from the workspace store.
DATABRICKS_SCHEMES = ("databricks", "databricks-uc", "uc")


def _local_tracking_store() -> Any:
    from mlflow.tracking._tracking_service.utils import _get_store

    return _get_store(ws_store.current_store_uri())


def _local_registry_store() -> Any:
    from mlflow.tracking._model_registry.utils import _get_store

    uri = ws_store.current_store_uri()
    return _get_store(uri, uri)


class WorkspaceTrackingStore:
    """The tracking store behind ``databricks``: the current workspace's SQLite store."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_local_tracking_store(), name)


class WorkspaceRegistryStore:
    """The legacy workspace registry behind ``databricks``: the local registry as it is."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_local_registry_store(), name)


def tracking_store(store_uri: str | None = None, artifact_uri: str | None = None) -> WorkspaceTrackingStore:
    """``mlflow.tracking_store`` entry point for ``databricks``."""
    return WorkspaceTrackingStore()


def registry_store(store_uri: str | None = None, tracking_uri: str | None = None) -> WorkspaceRegistryStore:
    """``mlflow.model_registry_store`` entry point for ``databricks`` (legacy registry)."""
    return WorkspaceRegistryStore()


def uc_registry_store(store_uri: str | None = None, tracking_uri: str | None = None) -> UnityCatalogRegistry:
    """``mlflow.model_registry_store`` entry point for ``databricks-uc`` and ``uc``."""
    return UnityCatalogRegistry(_local_registry_store)


def sqlite_tracking_store(store_uri: str, artifact_uri: str | None = None) -> Any:
    """``mlflow.tracking_store`` entry point for ``sqlite``: MLflow's SQLAlchemy store, with a
    lakeloom workspace database's artifacts kept beside it."""
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    return _get_sqlalchemy_store(store_uri, artifact_uri or ws_store.artifact_root_beside(store_uri))


def models_artifact_repository(artifact_uri: str, tracking_uri: str | None = None,
                               registry_uri: str | None = None) -> Any:
    """``mlflow.artifact_repository`` entry point for ``models:``; resolves in the local
    store when the registry URI is one lakeloom serves, as MLflow's own otherwise."""
    import mlflow
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    registry = registry_uri or mlflow.get_registry_uri()
    if registry in DATABRICKS_SCHEMES or registry.split(":", 1)[0] in DATABRICKS_SCHEMES:
        registry = ws_store.current_store_uri()
    return ModelsArtifactRepository(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry)


class TaskExperimentProvider:
    """``mlflow.default_experiment_provider``: inside a task, runs started without an
    experiment go to the job's experiment (on Databricks: the notebook's or job's)."""

    def in_context(self) -> bool:
        from lakeloom.plugin_api import current_context

        return current_context() is not None

    def get_experiment_id(self) -> str:
        from lakeloom.plugins.ml.experiments import experiment_id_for
        from lakeloom.plugin_api.context import require_context

        ctx = require_context()
        return experiment_id_for(ctx.workspace, ctx.job_name)


class TaskRunContext:
    """``mlflow.run_context_provider``: tags runs started inside a task with its job, run
    and task (``lakeloom.job_id``, ``lakeloom.job_run_id``, ``lakeloom.task_key``, ...)."""

    def in_context(self) -> bool:
        from lakeloom.plugin_api import current_context

        return current_context() is not None

    def tags(self) -> dict[str, str]:
        from lakeloom.plugins.ml.experiments import run_tags
        from lakeloom.plugin_api.context import require_context

        return run_tags(require_context())
