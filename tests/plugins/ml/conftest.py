"""ML tests share one process: MLflow's active experiment is process-wide."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_active_mlflow_experiment() -> Iterator[None]:
    """Each test starts with no active experiment; a notebook test's ``mlflow.set_experiment``
    (process-wide in MLflow) would otherwise point later tests at another store's experiment."""
    yield
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is not None:
        fluent._active_experiment_id = None
    # set_experiment also exports the id for child processes.
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
