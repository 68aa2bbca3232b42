"""Class-data sharing (CDS) for the Spark driver: a cold command starts its JVM from an archive.

A cold ``lakeloom`` command (no warm daemon) spends most of its JVM start loading and verifying
~17,000 classes of Spark, Delta and lakeloom's catalog. Java 17 can dump the classes a JVM
loaded into a *dynamic archive* when it exits (``-XX:ArchiveClassesAtExit``) and map that
archive into later JVMs (``-XX:SharedArchiveFile``); measured on the 2-core machine, the
driver then uses ~25 % less CPU to start a session and do its first Delta work.

``lakeloom setup`` builds the archive once (:func:`train`: a short Spark/Delta workload in a
child process). The archive is only valid for the exact JVM and class path that dumped it, so
its file name is a hash of the ``java`` binary, ``pyspark/jars`` and the session's
``spark.jars`` and driver class path (:func:`archive_key`); a different set-up simply finds no
archive and starts as before. ``LAKELOOM_CDS=0`` turns it off; driver Java options that choose
an archive or sharing mode themselves (``-XX:SharedArchiveFile``, ``-Xshare:...``) are left alone.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from lakeloom.catalog.build import CatalogBuildError, cache_dir, pyspark_jars_dir

CDS_ENV = "LAKELOOM_CDS"
"""``0``/``false`` disables the archive (neither built by ``lakeloom setup`` nor used)."""
DUMP_ENV = "LAKELOOM_CDS_DUMP"
"""Set by :func:`train` for its child: the session dumps its classes to this path at exit."""
KEY_PREFIX = "lakeloom-cds-key="
"""How the training child reports the key of the session it started."""
KEEP_ARCHIVES = 3
"""Archives of other set-ups (another checkout, an older catalog jar) kept before pruning."""

# A stale or foreign archive is skipped by the JVM with a warning on stdout (the user's
# terminal); the key makes that rare, and when it happens the start is simply not faster.
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def enabled() -> bool:
    """Whether class-data sharing is on (``LAKELOOM_CDS`` unset or not ``0``/``false``/``no``)."""
    return os.environ.get(CDS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def java_binary() -> Path | None:
    """The ``java`` that ``spark-submit`` will run: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found) if found else None
    return candidate.resolve() if candidate else None


def _entries(value: str, sep: str) -> list[str]:
    return [e for e in value.split(sep) if e.strip()]


def _describe(path: Path) -> str:
    try:
        st = path.stat()
        return f"{path}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return f"{path}|missing"


def archive_key(conf: Mapping[str, str]) -> str | None:
    """Hash of everything the archive depends on, for the session ``conf`` will start.

    ``None`` when there is no ``java`` to start or no ``pyspark/jars`` folder (a driver that
    ``spark-submit`` started imports pyspark from ``pyspark.zip``): nothing to share.
    """
    java = java_binary()
    try:
        jars_dir = pyspark_jars_dir()
    except CatalogBuildError:
        return None
    if java is None:
        return None
    h = hashlib.sha256()
    parts: Iterable[str] = [
        _describe(java),
        _describe(java.parent.parent / "lib" / "server" / "libjvm.so"),
        *sorted(_describe(p) for p in jars_dir.glob("*.jar")),
        *(_describe(Path(e.removeprefix("file:"))) for e in _entries(conf.get("spark.jars", ""), ",")),
        *(_describe(Path(e)) for e in _entries(conf.get("spark.driver.extraClassPath", ""), os.pathsep)),
    ]
    for part in parts:
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def archive_dir() -> Path:
    """Where archives are kept: ``cds/`` in lakeloom's per-user cache."""
    return cache_dir() / "cds"


def archive_path(key: str) -> Path:
    """The archive file of one key."""
    return archive_dir() / f"lakeloom-driver-{key}.jsa"


def driver_options(conf: Mapping[str, str]) -> str:
    """JVM options to append to ``spark.driver.extraJavaOptions`` for the session ``conf`` starts.

    While :func:`train` runs, the dump option; otherwise the archive of this set-up if it has
    been built; else nothing (a ``-XX:SharedArchiveFile`` naming a missing file would also turn
    off the JDK's own base archive).
    """
    if not enabled():
        return ""
    if dump := os.environ.get(DUMP_ENV):
        return f"-XX:ArchiveClassesAtExit={dump} {_QUIET}"
    key = archive_key(conf)
    if key is None:
        return ""
    path = archive_path(key)
    return f"-XX:SharedArchiveFile={path} {_QUIET}" if path.is_file() else ""


def with_driver_options(conf: dict[str, str]) -> dict[str, str]:
    """``conf`` with :func:`driver_options` appended to its driver Java options.

    Left alone when the options already choose an archive or sharing mode themselves.
    """
    current = conf.get("spark.driver.extraJavaOptions", "")
    if "SharedArchiveFile" in current or "ArchiveClassesAtExit" in current or "-Xshare" in current:
        return conf
    extra = driver_options(conf)
    if extra:
        conf["spark.driver.extraJavaOptions"] = f"{current} {extra}".strip()
    return conf


def train(*, timeout: float = 300) -> str:
    """Build the archive of the default set-up unless it exists; returns a line saying what happened.

    Runs :mod:`lakeloom.runtime.cds_training` in a child process whose driver dumps its classes
    at exit into a temporary file; the child prints its session's :func:`archive_key`, and the
    file is renamed into place only when complete (concurrent set-ups each write their own
    file; the last rename wins, and both are the same archive). Never raises: without an
    archive lakeloom starts exactly as before.
    """
    if not enabled():
        return f"class-data sharing: off ({CDS_ENV}=0)"
    if java_binary() is None:
        return "class-data sharing: skipped (no java on PATH or JAVA_HOME)"
    archive_dir().mkdir(parents=True, exist_ok=True)
    partial = archive_dir() / f"training-{os.getpid()}.partial"
    env = {**os.environ, DUMP_ENV: str(partial), "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "lakeloom.runtime.cds_training"], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        return f"class-data sharing: not built (the training run took over {timeout:.0f} s)"
    keys = [line.removeprefix(KEY_PREFIX) for line in proc.stdout.splitlines() if line.startswith(KEY_PREFIX)]
    if proc.returncode != 0 or not keys or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"class-data sharing: not built (training run exit {proc.returncode}: {tail[0]})"
    final = archive_path(keys[-1])
    os.replace(partial, final)
    _prune(keep=final)
    size = final.stat().st_size / 2**20
    return f"class-data sharing: built {final} ({size:.0f} MiB) in {time.monotonic() - started:.0f} s"


def ensure(conf: Mapping[str, str]) -> list[str]:
    """``lakeloom setup``'s step: build the archive (:func:`train`) unless a session started with
    ``conf`` already has one; the lines saying what happened and which archive it will map."""
    if not enabled():
        return [f"class-data sharing: off ({CDS_ENV}=0)"]
    key = archive_key(conf)
    if key is None:
        return ["class-data sharing: skipped (no java on PATH or JAVA_HOME, or no pyspark/jars)"]
    path = archive_path(key)
    lines = [] if path.is_file() else [train()]
    if path.is_file():
        lines.append(f"class-data sharing: {path}")
    else:
        lines.append("class-data sharing: none for this workspace's class path (its spark.jars or driver "
                     "class path differ from the default set-up's); its sessions start without an archive")
    return lines


def _prune(keep: Path) -> None:
    """Remove all but the newest :data:`KEEP_ARCHIVES` archives (each is ~200 MB), and the
    partial files of training runs that were killed (a JVM killed mid-run still dumps)."""
    for partial in archive_dir().glob("training-*.partial"):
        if time.time() - partial.stat().st_mtime > 3600:
            partial.unlink(missing_ok=True)
    archives = sorted(archive_dir().glob("lakeloom-driver-*.jsa"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [a for a in archives if a != keep][KEEP_ARCHIVES - 1:]:
        old.unlink(missing_ok=True)
