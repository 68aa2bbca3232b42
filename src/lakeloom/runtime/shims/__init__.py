"""Runtime shims that make Databricks code find lakeloom's objects.

``databricks.sdk.runtime`` (``from databricks.sdk.runtime import dbutils, spark``)
first tries ``from dbruntime import UserNamespaceInitializer``. lakeloom ships a
``dbruntime`` package in ``_site/``; ``install_runtime_shims()`` puts that folder on
``sys.path`` so the SDK binds lakeloom's proxies, which resolve the running task's
``spark``/``dbutils`` on every use.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

SHIM_DIR = Path(__file__).resolve().parent / "_site"
_lock = threading.Lock()


def install_runtime_shims() -> Path:
    """Put the shim folder first on ``sys.path`` (idempotent; thread-safe) and return it.

    If ``databricks.sdk.runtime`` was already imported with the SDK's own fallbacks,
    it is reloaded so it binds lakeloom's objects. Child Python processes inherit the
    folder through ``PYTHONPATH``.
    """
    shim = str(SHIM_DIR)
    with _lock:
        if shim not in sys.path:
            sys.path.insert(0, shim)
        parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if shim not in parts:
            os.environ["PYTHONPATH"] = os.pathsep.join([shim, *parts])
        importlib.invalidate_caches()
        runtime = sys.modules.get("databricks.sdk.runtime")
        if runtime is not None and getattr(runtime, "is_local_implementation", False):
            importlib.reload(runtime)
    return SHIM_DIR


def shims_installed() -> bool:
    """Whether ``install_runtime_shims`` has run in this process."""
    return str(SHIM_DIR) in sys.path
