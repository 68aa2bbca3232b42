"""A working directory per task thread.

Databricks Runtime 14+ runs a notebook or Python-file task in the folder of its file, so
``open("data.txt")`` and ``%sh ls`` see its siblings. lakeloom runs tasks in threads of
one process, and ``os.chdir`` is process-wide. On Linux a thread can stop sharing its
filesystem attributes with the rest of the process (``unshare(CLONE_FS)``, unprivileged;
Samba's thread pool does the same): its ``chdir`` then moves only itself and the threads
and subprocesses it starts. Elsewhere the directory is left alone, with a warning.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_CLONE_FS = 0x00000200
_log = logging.getLogger("lakeloom.workdir")
_local = threading.local()
_warned: list[bool] = []


def _unshare_fs() -> bool:
    """Give the calling thread its own cwd (once per thread); False when impossible."""
    done = getattr(_local, "unshared", None)
    if done is not None:
        return bool(done)
    ok = False
    if sys.platform.startswith("linux"):
        try:
            unshare = getattr(os, "unshare", None)
            if unshare is not None:
                unshare(_CLONE_FS)
                ok = True
            else:
                libc = ctypes.CDLL(None, use_errno=True)
                ok = libc.unshare(_CLONE_FS) == 0
        except (OSError, AttributeError):
            ok = False
    _local.unshared = ok
    return ok


def thread_cwd_supported() -> bool:
    """Whether this thread can have a working directory of its own."""
    return _unshare_fs()


@contextmanager
def working_directory(folder: Path | None) -> Iterator[None]:
    """Run the block with this thread's working directory at ``folder`` (None: unchanged).

    Other task threads keep theirs; the previous directory is restored afterwards.
    """
    if folder is None:
        yield
        return
    if not _unshare_fs():
        if not _warned:
            _warned.append(True)
            _log.warning("tasks keep the process working directory on this platform (%s); relative paths "
                         "resolve against %s, not the task file's folder", sys.platform, os.getcwd())
        yield
        return
    saved = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        try:
            os.chdir(saved)
        except OSError:  # the old directory vanished meanwhile: fall back to the process's
            os.chdir(os.readlink("/proc/self/cwd"))
