"""``dbutils.fs`` on the local file system.

Path mapping (the workspace is the current task's, else the one of the cwd):

- ``dbfs:/a/b`` and ``/dbfs/a/b`` -> ``<workspace.dbfs_root>/a/b``
- ``/Volumes/<catalog>/<schema>/<volume>/a`` -> ``<workspace.volumes_root>/<catalog>/<schema>/<volume>/a``
- ``file:/a/b`` -> ``/a/b``; any other absolute local path is used as it is
- a relative path resolves against the task's base directory (the job file's folder)

``ls`` returns ``FileInfo(path, name, size, modificationTime)`` with ``path`` in the
caller's spelling (``dbfs:/...``), directories ending in ``/`` as on Databricks.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

from lakeloom.catalog.identity import os_user
from lakeloom.catalog.volumes import VolumeAccessError, volume_local_path
from lakeloom.plugin_api import current_context


class FileInfo(NamedTuple):
    """One entry of ``dbutils.fs.ls`` (the SDK's field names)."""

    path: str
    name: str
    size: int
    modificationTime: int

    def isDir(self) -> bool:
        """True for a directory (its name ends with ``/``)."""
        return self.name.endswith("/")

    def isFile(self) -> bool:
        """True for a regular file."""
        return not self.isDir()


class MountInfo(NamedTuple):
    """One entry of ``dbutils.fs.mounts`` (always empty locally)."""

    mountPoint: str
    source: str
    encryptionType: str


def to_local_path(path: str, *, write: bool = False) -> Path:
    """The local file-system path that a Databricks path stands for (the workspace's
    :meth:`~lakeloom.config.Workspace.local_path`; relative paths against the task's folder).
    A ``/Volumes/...`` path needs its volume to exist (``[UC_VOLUME_NOT_FOUND]`` otherwise), and
    a write needs a path inside a volume."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"dbutils.fs: invalid path {path!r}")
    ctx = current_context()
    if ctx is not None:
        ws, base = ctx.workspace, ctx.base_dir
    else:
        from lakeloom.config import load_workspace

        ws, base = load_workspace(), Path.cwd()
    try:
        return volume_local_path(ws, path, base, write=write, principal=_principal(ctx))
    except VolumeAccessError:
        raise
    except ValueError as e:
        raise ValueError(f"dbutils.fs: {e}") from None


def _principal(ctx: object | None) -> str:
    """Whom the caller runs as: its run's principal, else the one bound to this thread's Spark
    statements (``lakeloom.principal``), else the OS user (as the JVM falls back to its user)."""
    principal = getattr(getattr(ctx, "run", None), "principal", None)
    if principal:
        return str(principal)
    if "pyspark" in sys.modules:
        from pyspark import SparkContext

        sc = SparkContext._active_spark_context
        if sc is not None:
            principal = sc.getLocalProperty("lakeloom.principal")
    return principal or os_user()


def _child_display_path(parent: str, name: str, is_dir: bool) -> str:
    sep = "" if parent.endswith("/") else "/"
    return f"{parent}{sep}{name}{'/' if is_dir else ''}"


class FsUtil:
    """``dbutils.fs``: file operations on DBFS, volumes and local paths."""

    def ls(self, dir: str) -> list[FileInfo]:
        """List a directory (or describe one file), sorted by name."""
        local = to_local_path(dir)
        if not local.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: File {dir} does not exist.")
        if local.is_file():
            st = local.stat()
            return [FileInfo(dir, local.name, st.st_size, int(st.st_mtime * 1000))]
        out: list[FileInfo] = []
        for entry in sorted(os.scandir(local), key=lambda e: e.name):
            st = entry.stat()
            is_dir = entry.is_dir()
            out.append(FileInfo(_child_display_path(dir, entry.name, is_dir), entry.name + ("/" if is_dir else ""),
                                0 if is_dir else st.st_size, int(st.st_mtime * 1000)))
        return out

    def mkdirs(self, dir: str) -> bool:
        """Create a directory and its parents; True."""
        to_local_path(dir, write=True).mkdir(parents=True, exist_ok=True)
        return True

    def put(self, file: str, contents: str, overwrite: bool = False) -> bool:
        """Write a UTF-8 string to a file; refuses to replace one unless ``overwrite``."""
        local = to_local_path(file, write=True)
        if local.exists() and not overwrite:
            raise FileExistsError(f"File {file} already exists (pass overwrite=True)")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(contents, encoding="utf-8")
        return True

    def head(self, file: str, max_bytes: int = 65536) -> str:
        """The first ``max_bytes`` bytes of a file, decoded as UTF-8."""
        local = to_local_path(file)
        if not local.is_file():
            raise FileNotFoundError(f"java.io.FileNotFoundException: {file} is not a file")
        with open(local, "rb") as f:
            return f.read(max_bytes).decode("utf-8", errors="replace")

    def cp(self, source: str, dest: str, recurse: bool = False) -> bool:
        """Copy a file, or a directory tree with ``recurse=True``."""
        src, dst = to_local_path(source), to_local_path(dest, write=True)
        if src.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{source} is a directory: pass recurse=True")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        elif src.is_file():
            if dst.is_dir():
                dst = dst / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        else:
            raise FileNotFoundError(f"java.io.FileNotFoundException: File {source} does not exist.")
        return True

    def mv(self, source: str, dest: str, recurse: bool = False) -> bool:
        """Move a file, or a directory with ``recurse=True``."""
        src, dst = to_local_path(source, write=True), to_local_path(dest, write=True)
        if not src.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: File {source} does not exist.")
        if src.is_dir() and not recurse:
            raise IsADirectoryError(f"{source} is a directory: pass recurse=True")
        if dst.is_dir() and src.is_file():
            dst = dst / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        return True

    def rm(self, dir: str, recurse: bool = False) -> bool:
        """Delete a file, or a directory tree with ``recurse=True``; False when nothing existed."""
        local = to_local_path(dir, write=True)
        if not local.exists():
            return False
        if local.is_dir():
            if not recurse and any(local.iterdir()):
                raise IsADirectoryError(f"{dir} is a non-empty directory: pass recurse=True")
            shutil.rmtree(local)
        else:
            local.unlink()
        return True

    def mounts(self) -> list[MountInfo]:
        """Mount points (none locally)."""
        return []

    def refreshMounts(self) -> bool:
        """No-op locally."""
        return True

    def help(self, method: str | None = None) -> None:
        """Print the supported methods."""
        print("dbutils.fs: ls, cp, mv, rm, mkdirs, put, head, mounts (paths: dbfs:/, /Volumes/, file:/, local)")
