"""A fix for an MLflow deadlock between ``mlflow.autolog()`` and imports in other threads.

Before MLflow 3.18, ``register_post_import_hook`` fires the hook of an already imported
library (``mlflow.autolog()`` registers one per framework: sklearn is usually imported by
then) while it holds MLflow's hook-registry lock, and those hooks import modules (sklearn's
autolog walks every estimator module). A second thread importing anything at that moment
holds CPython's import lock (3.11 calls ``sys.meta_path`` finders under it) and waits for the
registry lock in MLflow's finder: each thread waits for the other forever, signals included,
so not even a timeout fires. lakeloom runs tasks as threads of one process, so one task
enabling autolog while another imports hangs the run (seen in the test suite).

MLflow 3.18 registers under the lock and fires outside it (mlflow/mlflow#23466 did the same
for hooks fired at import time). ``install()`` gives older MLflow that behaviour; it does
nothing on an MLflow that has the fix. This machine's package index has no MLflow 3.18
(its ``mlflow-tracing`` 3.18 is missing), so the requirement cannot simply be raised.
"""
from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any, Callable

_installed = False
_install_lock = threading.Lock()


def _fixed(hooks: ModuleType) -> bool:
    """True when this MLflow already fires immediate hooks outside the registry lock."""
    return hasattr(hooks, "_register_generic_import_hook")


def install() -> None:
    """Make ``register_post_import_hook`` fire hooks of imported modules outside MLflow's
    registry lock, in every module that bound it by name. Idempotent; imports mlflow."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        from mlflow.tracking import fluent
        from mlflow.utils import import_hooks

        if not _fixed(import_hooks):
            patched = _fire_outside_lock(import_hooks.register_post_import_hook, import_hooks._post_import_hooks_lock,
                                         import_hooks._post_import_hooks)
            import_hooks.register_post_import_hook = patched
            fluent.register_post_import_hook = patched  # what mlflow.autolog() calls
            for name in ("mlflow.models.evaluation.utils.trace",):
                module = sys.modules.get(name)
                if module is not None and hasattr(module, "register_post_import_hook"):
                    module.register_post_import_hook = patched
        _installed = True


def _fire_outside_lock(register: Callable[..., Any], lock: Any, registry: dict[str, Any]) -> Callable[..., Any]:
    def register_post_import_hook(hook: Any, name: str, overwrite: bool = True) -> None:
        if isinstance(hook, str) or not callable(hook):  # entry-point strings: MLflow's own path
            register(hook, name, overwrite)
            return
        with lock:  # re-entrant: MLflow's register takes it again
            hooks = registry.get(name)
            # When MLflow would fire the hook at once, it fires this no-op under its lock instead
            # (and records the module's hooks as fired); the hook itself runs below.
            now = (hooks is None and name in sys.modules) or hooks == []
            module = sys.modules[name] if now else None
            register(_already_fired if now else hook, name, overwrite)
        if module is not None:
            hook(module)

    register_post_import_hook.__doc__ = register.__doc__
    return register_post_import_hook


def _already_fired(module: ModuleType) -> None:
    """Stands in for a hook that ``register_post_import_hook`` fires after the lock."""
