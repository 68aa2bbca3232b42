"""What a task can import: its file's folder, the bundle root and its environment.

On Databricks every notebook has a Python process of its own, with the notebook's folder
and the bundle root on ``sys.path`` and its libraries installed. lakeloom runs tasks in
threads of one process, so ``sys.path`` cannot differ per task. Instead a task runs in an
*import scope* (a context variable) read by two finders on ``sys.meta_path``:

- ``front`` folders (installed environments) are searched before ``sys.path``, so a
  task's own package versions win;
- ``back`` folders (the file's folder, the job file's folder, the bundle root) are searched
  after it, so sibling modules import without shadowing installed packages.

Only tasks in the scope find these modules. Top-level modules a scope imported are
removed from ``sys.modules`` when it ends, so the next task imports its own copies. A
python_task's own module is imported with :func:`import_task_module`, which also replaces a
same-named module of another folder that a run still going on (serve, the warm daemon)
holds. ``sys.modules`` is one per process, so modules imported *by* task modules are not
checked: two runs at once whose tasks import same-named siblings of different folders
share the first one loaded. Spark's Python workers get the same folders through
``PYTHONPATH`` (see :class:`TaskAwareEnvironment`).
"""
from __future__ import annotations

import contextvars
import functools
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import sysconfig
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Sequence

BUNDLE_FILES = ("databricks.yml", "databricks.yaml", "bundle.yml", "bundle.yaml")


@dataclass
class ImportScope:
    """The extra import folders of the running task (outermost scope's folders included)."""

    front: tuple[str, ...] = ()
    back: tuple[str, ...] = ()
    loaded: set[str] = field(default_factory=set)
    #: The enclosing scope (its modules were imported by the same task).
    parent: ImportScope | None = None

    @property
    def pythonpath(self) -> list[str]:
        """Folders for a child Python process, in lookup order."""
        return [*self.front, *self.back]


_scope: contextvars.ContextVar[ImportScope | None] = contextvars.ContextVar("lakeloom_import_scope", default=None)
_install_lock = threading.Lock()
_task_import_lock = threading.Lock()


class _ScopeFinder(importlib.abc.MetaPathFinder):
    def __init__(self, front: bool) -> None:
        self.front = front

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: Any = None) -> Any:
        scope = _scope.get()
        if scope is None or path is not None:  # submodules are found through their package's __path__
            return None
        dirs = scope.front if self.front else scope.back
        if not dirs:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, list(dirs))
        if spec is not None:
            scope.loaded.add(name)
        return spec

    def __repr__(self) -> str:
        return f"<lakeloom task import finder ({'front' if self.front else 'back'})>"


_FRONT = _ScopeFinder(front=True)
_BACK = _ScopeFinder(front=False)


def install_finders() -> None:
    """Put the two finders on ``sys.meta_path`` (idempotent): the front one just before the
    path finder (never ahead of built-in modules), the back one last."""
    with _install_lock:
        if _FRONT not in sys.meta_path:
            index = next((i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder),
                         len(sys.meta_path))
            sys.meta_path.insert(index, _FRONT)
        if _BACK not in sys.meta_path:
            sys.meta_path.append(_BACK)


def current_scope() -> ImportScope | None:
    """The import scope of the task running on this thread, if any."""
    return _scope.get()


def _unique(paths: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for p in paths if p))


@contextmanager
def import_scope(*, front: Sequence[Path | str] = (), back: Sequence[Path | str] = ()) -> Iterator[ImportScope]:
    """Run the block with extra import folders (added to any enclosing scope's); on exit
    forget the modules that this scope's folders provided."""
    install_finders()
    outer = _scope.get()
    scope = ImportScope(front=_unique([*map(str, front), *(outer.front if outer else ())]),
                        back=_unique([*map(str, back), *(outer.back if outer else ())]), parent=outer)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        # Roots include the enclosing scopes': a module found in an outer folder while this
        # scope was current is recorded here.
        evict(scope.loaded, [*scope.front, *scope.back])


def _inside(module: Any, roots: Sequence[str]) -> bool:
    files = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []) or [])]
    return any(f and any(str(f).startswith(r.rstrip(os.sep) + os.sep) for r in roots) for f in files)


def evict(names: set[str], roots: Sequence[str]) -> None:
    """Remove the modules ``names`` (and their submodules) that live under ``roots``."""
    if not names or not roots:
        return
    for key in list(sys.modules):
        top = key.partition(".")[0]
        if top in names:
            module = sys.modules.get(key)
            if module is not None and _inside(module, roots):
                sys.modules.pop(key, None)
    importlib.invalidate_caches()


def _origin(name: str) -> str | None:
    """The file the import system would load for top-level ``name`` if nothing were loaded
    yet: the scope's front folders, ``sys.path``, then its back folders."""
    scope = _scope.get()
    front, back = (scope.front, scope.back) if scope is not None else ((), ())
    for dirs in (list(front), None, list(back)):
        if dirs == []:
            continue
        spec = importlib.machinery.PathFinder.find_spec(name, dirs)
        if spec is not None:
            return spec.origin if spec.has_location else None
    return None


@functools.lru_cache(maxsize=1)
def _installed_roots() -> tuple[str, ...]:
    return tuple({sysconfig.get_path(key).rstrip(os.sep) + os.sep
                  for key in ("stdlib", "platstdlib", "purelib", "platlib")})


def _installed(path: str) -> bool:
    return path.startswith(_installed_roots())


def import_task_module(name: str) -> ModuleType:
    """Import ``name`` (``pkg.module`` or ``module``) from the files the running task's folders
    resolve it to. If ``sys.modules`` holds a same-named top-level module of another file (a
    task of another folder still running loaded it), that module and its submodules are
    dropped from ``sys.modules`` first (the other run keeps the objects it already has) and
    this task's file is imported under the same name, so relative and absolute imports
    inside a package, and Spark's pickling of its functions by reference, work as usual.
    Installed packages (the interpreter's stdlib and site-packages) are never dropped."""
    top = name.partition(".")[0]
    with _task_import_lock:
        loaded = sys.modules.get(top)
        have = getattr(getattr(loaded, "__spec__", None), "origin", None) if loaded is not None else None
        if have and not _installed(have):
            want = _origin(top)
            if want is not None and os.path.realpath(want) != os.path.realpath(have):
                evict({top}, [os.path.dirname(have)])
        return importlib.import_module(name)


def bundle_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a bundle's root file."""
    for folder in (start, *start.parents):
        if any((folder / name).is_file() for name in BUNDLE_FILES):
            return folder
    return None


def git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that is a Git checkout's root (``.git`` is a
    folder, or a file in worktrees and submodules)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def task_folders(file_folder: Path | None, base_dir: Path, *, git: bool = True) -> list[Path]:
    """The folders a task file imports from, as on Databricks: its own folder, the job
    file's folder, the bundle root, then the root of the Git checkout the file is in
    (Databricks Runtime 11.3+ puts a Git folder's root on ``sys.path``, so a notebook in
    ``notebooks/`` imports the repo's top-level packages); ``git=False`` leaves it out."""
    folders = [f for f in (file_folder, base_dir) if f is not None]
    start = file_folder or base_dir
    for root in (bundle_root(start), git_root(start) if git else None):
        if root is not None:
            folders.append(root)
    return list(dict.fromkeys(folders))


class TaskAwareEnvironment(dict):  # type: ignore[type-arg]
    """``SparkContext.environment`` whose ``PYTHONPATH`` adds the calling task's import
    folders. pyspark reads it when it wraps a Python function (UDFs, ``mapInPandas``, RDD
    functions), and Spark keys its Python worker pools by these variables, so each task's
    functions run in workers that import what the task imports."""

    def _extra(self) -> str:
        scope = _scope.get()
        return os.pathsep.join(scope.pythonpath) if scope is not None else ""

    def keys(self) -> Any:  # type: ignore[override]
        names = list(super().keys())
        if "PYTHONPATH" not in names and self._extra():
            names.append("PYTHONPATH")
        return names

    def __getitem__(self, key: str) -> Any:
        if key == "PYTHONPATH":
            parts = [self._extra(), super().get("PYTHONPATH", "")]
            value = os.pathsep.join(p for p in parts if p)
            if value or super().__contains__(key):
                return value
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def items(self) -> Any:  # type: ignore[override]
        return [(k, self[k]) for k in self.keys()]


def make_environment_task_aware(sc: Any) -> None:
    """Replace ``sc.environment`` by a :class:`TaskAwareEnvironment` (idempotent)."""
    env = getattr(sc, "environment", None)
    if env is not None and not isinstance(env, TaskAwareEnvironment):
        sc.environment = TaskAwareEnvironment(env)


@contextmanager
def task_file_scope(file_folder: Path | None, base_dir: Path) -> Iterator[ImportScope]:
    """How Databricks runs a notebook or Python file: the working directory is the file's
    folder (this thread only, see :mod:`lakeloom.runtime.workdir`) and the file's folder,
    the job file's folder, the bundle root and the Git checkout's root are importable."""
    from lakeloom.runtime.workdir import working_directory

    with working_directory(file_folder), import_scope(back=task_folders(file_folder, base_dir)) as scope:
        yield scope
