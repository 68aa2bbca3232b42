"""Task code for executors on other machines: the Python files of a job's folders as zip
archives for ``spark-submit --py-files``.

A task imports from its file's folder, the job file's folder and the bundle root (see
:func:`lakeloom.runtime.imports.task_folders`); on a local or shared-mount cluster the Python
workers find those folders through ``PYTHONPATH``. On nodes without the workspace, Spark
ships these archives to every executor and puts them on the workers' ``sys.path``, so
functions that tasks hand to Spark (UDFs, ``mapPartitions``) import their modules there too.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from lakeloom.runtime.imports import task_folders

#: Folders never packed: lakeloom's state, virtual environments, VCS and caches.
SKIPPED_DIRS = frozenset({".lakeloom", ".venv", "venv", ".git", "__pycache__", "node_modules", ".databricks"})


def _python_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if f.endswith(".py")]
    return found


def folder_archive(folder: Path, cache: Path) -> Path | None:
    """A zip of ``folder``'s Python files (paths relative to it) in ``cache``, named by a hash
    of their contents, so an unchanged folder is packed once. None if it has no Python file."""
    files = _python_files(folder)
    if not files:
        return None
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(folder)).encode() + b"\0" + f.read_bytes() + b"\0")
    target = cache / f"{folder.name or 'root'}-{digest.hexdigest()[:16]}.zip"
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f.relative_to(folder).as_posix())
        os.replace(tmp, target)
    return target


def job_py_files(job_file: Path, state_dir: Path) -> list[Path]:
    """Archives of the job file's folder and its bundle root (cached under
    ``<state_dir>/cluster/py-files``), for ``--py-files``."""
    cache = state_dir / "cluster" / "py-files"
    # Not the whole Git checkout a job file may sit in: that can be any size.
    archives = [folder_archive(f, cache) for f in task_folders(None, job_file.resolve().parent, git=False)]
    return [a for a in archives if a is not None]
