"""The workspace's MLflow store: one SQLite tracking and registry database under
``.lakeloom/mlflow/`` (``mlflow.db``), with artifacts beside it in ``artifacts/``.

``prepare(workspace)`` creates it once per process (tables, the Default experiment with
its artifact location under ``artifacts/``, WAL journal) and returns its tracking URI.
The URI carries a generous SQLite busy timeout: parallel tasks logging at once wait for
the write lock instead of failing with ``database is locked``.

Everything here imports mlflow lazily; importing this module costs nothing.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom.filelock import file_lock

if TYPE_CHECKING:
    from lakeloom.config import Workspace

DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
#: Written beside the database so the ``sqlite`` store builder can tell a lakeloom store
#: (artifacts beside it) from any other SQLite MLflow database (left to MLflow's defaults).
MARKER = ".lakeloom-mlflow-store"
BUSY_TIMEOUT_SECONDS = 120
#: The registry of task code that names none, as on Databricks (this store, see ``stores``).
DEFAULT_REGISTRY_URI = "databricks-uc"

_prepared: set[str] = set()
_lock = threading.Lock()
_active: Workspace | None = None


def tracking_uri(workspace: Workspace) -> str:
    """``mlflow.tracking_uri`` from the config, else the workspace's SQLite store."""
    configured = (workspace.settings.get("mlflow") or {}).get("tracking_uri")
    if configured:
        return str(configured)
    db = (workspace.mlflow_dir / DB_NAME).resolve()
    return f"sqlite:///{db}?timeout={BUSY_TIMEOUT_SECONDS}"


def artifact_root(workspace: Workspace) -> str:
    """Where experiments of the workspace store keep their artifacts (a ``file:`` URI)."""
    return (workspace.mlflow_dir / ARTIFACTS_DIR).resolve().as_uri()


def sqlite_path(store_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (query string dropped), else None."""
    if not store_uri.startswith("sqlite:///"):
        return None
    text = store_uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(text) if text and text != ":memory:" else None


def artifact_root_beside(store_uri: str) -> str | None:
    """The artifact root of a lakeloom workspace store given its URI, or None for other URIs."""
    db = sqlite_path(store_uri)
    if db is None or not (db.parent / MARKER).exists():
        return None
    return (db.parent / ARTIFACTS_DIR).resolve().as_uri()


def _lay_out(uri: str, workspace: Workspace) -> Path | None:
    """Folders, marker and WAL journal of the SQLite store (stdlib only: no mlflow import)."""
    import sqlite3

    db = sqlite_path(uri)
    if db is None:
        return None
    db.parent.mkdir(parents=True, exist_ok=True)
    (workspace.mlflow_dir / ARTIFACTS_DIR).mkdir(parents=True, exist_ok=True)
    (db.parent / MARKER).touch()
    con = sqlite3.connect(db, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        # WAL: readers never block the writer; the mode is stored in the file itself.
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()
    return db


def prepare(workspace: Workspace) -> str:
    """Create the workspace store once per process (MLflow's tables and the Default experiment,
    whose artifacts go under ``artifacts/``) and return its tracking URI."""
    uri = tracking_uri(workspace)
    if uri in _prepared:
        return uri
    with _lock:
        if uri in _prepared:
            return uri
        db = _lay_out(uri, workspace)
        if db is not None:
            with file_lock(db.parent / ".init.lock"):  # two processes starting at once
                from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
                from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

                SqlAlchemyStore(uri, artifact_root(workspace)).engine.dispose()
                RegistryStore(uri).engine.dispose()
        # Task code calling mlflow.autolog() itself runs in a thread beside other tasks too.
        from lakeloom.plugins.ml import mlflow_compat

        mlflow_compat.install()
        _prepared.add(uri)
    return uri


def activate(workspace: Workspace, *, create: bool = True) -> str:
    """Make ``workspace``'s store the process's MLflow store (``MLFLOW_TRACKING_URI``).

    ``create=False`` only lays out the folder (no mlflow import): MLflow creates the tables
    when user code first logs. A task that set another URI with ``mlflow.set_tracking_uri``
    keeps it; the ``databricks`` and ``databricks-uc`` URIs lead back here (see ``stores``).
    """
    global _active
    if create:
        uri = prepare(workspace)
    else:
        uri = tracking_uri(workspace)
        if uri not in _prepared:
            _lay_out(uri, workspace)
    _active = workspace
    os.environ["MLFLOW_TRACKING_URI"] = uri
    return uri


_registry_users = 0
_registry_owned = False


def use_default_registry() -> None:
    """While a run is active, code that names no registry uses ``databricks-uc``, as on
    Databricks (whose tracking URI ``databricks`` implies it): Unity Catalog's rules over this
    store. ``MLFLOW_REGISTRY_URI`` set by the user is left alone. Pair with
    :func:`release_default_registry`; the variable goes when the last active run ends, so code
    of this process outside runs keeps MLflow's own default."""
    global _registry_users, _registry_owned
    with _lock:
        if _registry_users == 0:
            _registry_owned = "MLFLOW_REGISTRY_URI" not in os.environ
            if _registry_owned:
                os.environ["MLFLOW_REGISTRY_URI"] = DEFAULT_REGISTRY_URI
        _registry_users += 1


def release_default_registry() -> None:
    """One run that called :func:`use_default_registry` has ended."""
    global _registry_users, _registry_owned
    with _lock:
        _registry_users = max(0, _registry_users - 1)
        if _registry_users == 0:
            if _registry_owned and os.environ.get("MLFLOW_REGISTRY_URI") == DEFAULT_REGISTRY_URI:
                del os.environ["MLFLOW_REGISTRY_URI"]
            _registry_owned = False


def current_workspace() -> Workspace:
    """The workspace whose store ``databricks`` URIs mean: the running task's, else the one
    last activated in this process, else the workspace of ``LAKELOOM_WORKSPACE`` / the cwd."""
    from lakeloom.plugin_api import current_context

    ctx = current_context()
    if ctx is not None:
        return ctx.workspace
    if _active is not None:
        return _active
    from lakeloom.config import load_workspace

    return load_workspace()


def current_store_uri() -> str:
    """The tracking (and registry) URI of the current workspace's store, prepared."""
    return prepare(current_workspace())
