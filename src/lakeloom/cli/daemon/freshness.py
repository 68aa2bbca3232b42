"""Code a warm driver imported that changed on disk since.

A cold ``lakeloom run`` imports the pipeline package as it is on disk; a warm driver keeps
what it imported. Before each command the driver compares the files of the modules it
holds with what they were when imported:

- *user code* (modules outside the Python installation and outside lakeloom: pipeline
  packages, editable plugins, folders on ``PYTHONPATH``) that changed is dropped from
  ``sys.modules``, all of it at once since modules hold each other's objects, so the
  command imports it afresh; Spark's Python workers are renewed too (their pools are keyed
  by environment variables, and a new ``LAKELOOM_CODE_GENERATION`` gives new workers);
- lakeloom's own code that changed cannot be reloaded safely: the driver must restart.

Modules of task files (a ``tasks.py`` beside the job file, notebooks' siblings) are already
dropped after every task by :mod:`lakeloom.runtime.imports`.
"""
from __future__ import annotations

import importlib
import os
import site
import sys
import sysconfig
from pathlib import Path
from typing import Any

import lakeloom

_LAKELOOM_ROOT = str(Path(lakeloom.__file__).resolve().parent) + os.sep


def _installation_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *site.getsitepackages(), site.getusersitepackages(), *sysconfig.get_paths().values()}
    return tuple(str(Path(r).resolve()) + os.sep for r in roots if r)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _module_file(module: Any) -> str | None:
    f = getattr(module, "__file__", None)
    if not f or not isinstance(f, str) or not f.endswith((".py", ".so", ".pyd")):
        return None
    return str(Path(f).resolve())


class CodeWatch:
    """Stamps of the module files a driver process holds."""

    def __init__(self) -> None:
        self._installed = _installation_roots()
        self._stamps: dict[str, tuple[str, tuple[int, int] | None]] = {}  # module -> (file, stamp)
        self.generation = 0
        self.observe()

    def _kind(self, path: str) -> str | None:
        if path.startswith(_LAKELOOM_ROOT):
            return "lakeloom"
        if path.startswith(self._installed):
            return None
        return "user"

    def observe(self) -> None:
        """Record the stamp of every module imported since the last call (the driver calls it
        after each command, so a file edited before the next one is seen as changed)."""
        for name, module in list(sys.modules.items()):
            if name in self._stamps or name == "__main__":
                continue
            path = _module_file(module)
            if path is not None and self._kind(path) is not None:
                self._stamps[name] = (path, _stamp(path))

    def _changed(self, kind: str) -> list[str]:
        out = []
        for name, (path, stamp) in list(self._stamps.items()):
            if self._kind(path) == kind and _stamp(path) != stamp:
                out.append(name)
        return out

    def lakeloom_changed(self) -> list[str]:
        """lakeloom's own modules whose file changed (the driver must restart)."""
        return self._changed("lakeloom")

    def user_changed(self) -> list[str]:
        """User modules whose file changed or vanished since they were imported."""
        return self._changed("user")

    def drop_user_modules(self, spark_context: Any = None) -> list[str]:
        """Forget every user module (the next import reads the files again) and, when Spark
        runs, move its Python workers to a new generation. Returns the dropped names."""
        dropped = [n for n, (path, _) in self._stamps.items() if self._kind(path) == "user"]
        for name in dropped:
            sys.modules.pop(name, None)
            self._stamps.pop(name, None)
        importlib.invalidate_caches()
        self.generation += 1
        if spark_context is not None:
            spark_context.environment["LAKELOOM_CODE_GENERATION"] = str(self.generation)
        return dropped
