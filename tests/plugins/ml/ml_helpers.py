"""A real workspace with the ML plugin: training code the tests import, job files, runs."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.store.records import TaskRunRecord

#: Training functions the jobs call. The data is generated here (seeded); ``flip`` flips that
#: share of the training labels, so a larger flip trains a worse model.
TRAIN_MODULE = '''
import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression


def data(seed=0, n=400):
    rng = np.random.RandomState(seed)
    import pandas as pd
    X = pd.DataFrame({"f1": rng.rand(n), "f2": rng.rand(n), "f3": rng.rand(n)})
    y = ((X.f1 + 0.5 * X.f2) > 0.75).astype(int)
    return X, y


def train(flip=0.0, ctx=None):
    X, y = data()
    y_train = y.copy()
    k = int(flip * len(y))
    y_train.iloc[:k] = 1 - y_train.iloc[:k]
    model = LogisticRegression(C=10.0).fit(X, y_train)
    X_test, y_test = data(seed=1)
    mlflow.log_metric("accuracy", float((model.predict(X_test) == y_test).mean()))
    mlflow.log_param("flip", flip)


def train_no_metric():
    X, y = data()
    LogisticRegression().fit(X, y)


def log_nothing():
    mlflow.log_metric("accuracy", 0.5)


def no_signature():
    X, y = data()
    mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
    mlflow.log_metric("accuracy", 0.9)


def returns_model():
    X, y = data()
    mlflow.log_metric("accuracy", 0.8)
    model = LogisticRegression().fit(X, y)
    from mlflow.models import infer_signature
    return mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, model.predict(X))).model_uri


def busy(i=0):
    with mlflow.start_run() as run:
        for step in range(40):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_params({f"p{j}": j for j in range(10)})
        mlflow.set_tag("worker", i)
    return run.info.run_id
'''


class MlWorkspace:
    """A workspace folder with the training module importable and an Engine over it."""

    def __init__(self, root: Path, module: str = "ml_train_code") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / f"{module}.py").write_text(TRAIN_MODULE)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        self.module = module
        self.workspace = load_workspace(root)
        self.engine = Engine.open(self.workspace, build_plugin_manager(self.workspace.disabled_plugins))
        self._n = 0

    def job(self, tasks: list[dict[str, Any]], name: str = "churn") -> Path:
        self._n += 1
        path = self.root / "jobs" / f"{name}-{self._n}.yml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump({"name": name, "tasks": tasks}, sort_keys=False))
        return path

    def run(self, tasks: list[dict[str, Any]], name: str = "churn") -> dict[str, TaskRunRecord]:
        """Run a job; its task rows (latest attempt) by task key."""
        run = self.engine.submit(str(self.job(tasks, name)))
        return {r.task_key: r for r in self.engine.store.task_runs(run["run_id"])}

    def fn(self, name: str) -> str:
        return f"{self.module}:{name}"

    def close(self) -> None:
        self.engine.store.close()


def ml_output(row: TaskRunRecord) -> dict[str, Any]:
    return row.output.get("ml_output", {})


def task_values(engine: Engine, row: TaskRunRecord) -> dict[str, Any]:
    return engine.store.task_values(row.run_id).get(row.task_key, {})
