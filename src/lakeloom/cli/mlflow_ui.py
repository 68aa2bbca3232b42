"""``lakeloom mlflow ui``: MLflow's own UI on the workspace's store (``.lakeloom/mlflow/``).

Imports only click at module level; the UI runs as ``python -m mlflow ui`` in a child
process, so the CLI itself never imports mlflow.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import click


@click.group("mlflow")
def mlflow_group() -> None:
    """The workspace's MLflow tracking and model registry store."""


@mlflow_group.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.pass_obj
def ui(state: Any, host: str, port: int) -> None:
    """Open MLflow's UI on the workspace store (experiments, runs, registered models)."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise click.ClickException("MLflow is not installed: pip install 'lakeloom[ml]'")
    ws = state.workspace()
    store = ws.mlflow_dir.resolve()
    if not (store / "mlflow.db").exists():
        raise click.ClickException(f"no MLflow store at {store} yet: it is created by the first ML task or run")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--registry-store-uri", uri,
           "--default-artifact-root", (store / "artifacts").as_uri(), "--no-serve-artifacts",
           "--host", host, "--port", str(port)]
    click.echo(f"MLflow UI for {store} on http://{host}:{port}", err=True)
    raise SystemExit(subprocess.call(cmd, env=dict(os.environ, MLFLOW_TRACKING_URI=uri)))
