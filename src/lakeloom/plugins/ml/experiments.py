"""Experiments and run tags of the workspace store.

Experiments are named as on Databricks: by workspace path (``/Users/me@x.com/churn``,
``/Shared/...``) or, by default, the job's name. They are created with an explicit
artifact location under ``.lakeloom/mlflow/artifacts`` whatever the current directory.
"""
from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from lakeloom.plugins.ml import store as ws_store

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_api import TaskContext

_lock = threading.Lock()

TAG_JOB_ID = "lakeloom.job_id"
TAG_RUN_ID = "lakeloom.job_run_id"
TAG_TASK_KEY = "lakeloom.task_key"
TAG_JOB_NAME = "lakeloom.job_name"


def experiment_id_for(workspace: Workspace, name: str) -> str:
    """The id of experiment ``name`` in the workspace store, created (once, even when tasks
    race) with its artifact location under the store's artifact root."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = ws_store.prepare(workspace)
    client = MlflowClient(tracking_uri=uri)
    with _lock:
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = f"{ws_store.artifact_root(workspace)}/{_folder_name(name)}"
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException:  # another process created it first
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)


def _folder_name(name: str) -> str:
    """A readable, unique folder for an experiment's artifacts."""
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip("/")).strip("_")[:80] or "experiment"
    return f"{slug}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def run_tags(ctx: TaskContext) -> dict[str, str]:
    """The tags of an MLflow run started inside task ``ctx``."""
    return {TAG_JOB_ID: str(ctx.job_id), TAG_RUN_ID: str(ctx.run_id), TAG_TASK_KEY: ctx.task_key,
            TAG_JOB_NAME: ctx.job_name}
