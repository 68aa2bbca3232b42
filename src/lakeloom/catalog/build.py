"""Compile the JVM half of the catalog (``jvm/*.scala``) into a cached jar, and the Databricks
path mapping file systems (``jvm/fs/*.scala``) into a second one.

There is no sbt or Maven build: the Scala compiler that ships in ``pyspark/jars`` compiles the
sources against Spark's own jars (about 5 s), once per source/Spark version. The jar is cached
under ``~/.cache/lakeloom/jars/lakeloom-catalog-<hash>.jar`` (``$LAKELOOM_CACHE_DIR`` or
``$XDG_CACHE_HOME/lakeloom`` move it), where the hash covers the sources and the Spark version,
so editing a ``.scala`` file triggers a rebuild and nothing else does.

The file systems get their own jar because Hadoop loads ``fs.file.impl`` while spark-submit
starts, before ``spark.jars`` is on the classpath: that jar goes on the driver's class path,
while the catalog must stay in ``spark.jars``, next to the Delta classes it loads.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

SOURCES_DIR = Path(__file__).with_name("jvm")
JAR_PREFIX = "lakeloom-catalog-"
FS_JAR_PREFIX = "lakeloom-fs-"


class CatalogBuildError(RuntimeError):
    """The catalog's Scala sources could not be compiled."""


def cache_dir() -> Path:
    """lakeloom's per-user cache folder."""
    if env := os.environ.get("LAKELOOM_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lakeloom"


def pyspark_jars_dir() -> Path:
    """``pyspark/jars`` of the installed pyspark, found without importing pyspark."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise CatalogBuildError("pyspark is not installed; the catalog jar is compiled against its jars")
    jars = Path(next(iter(spec.submodule_search_locations))) / "jars"
    if not jars.is_dir():
        raise CatalogBuildError(f"{jars} does not exist: this pyspark install has no jars folder")
    return jars


def spark_version() -> str:
    """Version of the installed pyspark distribution."""
    return importlib.metadata.version("pyspark")


def source_files(folder: Path | None = None) -> list[Path]:
    """The Scala sources in ``folder`` (default: the catalog's), in a stable order."""
    folder = folder or SOURCES_DIR
    if folder == SOURCES_DIR:  # the catalog jar: top level and sub-folders, except the file systems' own jar
        files = sorted(f for f in folder.rglob("*.scala") if _fs_sources() not in f.parents)
    else:
        files = sorted(folder.glob("*.scala"))
    if not files:
        raise CatalogBuildError(f"no Scala sources in {folder}")
    return files


def sources_digest(folder: Path | None = None) -> str:
    """Hash of the Scala sources and the Spark version: the cache key of the jar."""
    h = hashlib.sha256(f"spark={spark_version()}\n".encode())
    for f in source_files(folder):
        h.update(f.relative_to(folder or SOURCES_DIR).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _fs_sources() -> Path:
    return SOURCES_DIR / "fs"


def catalog_jar_path() -> Path:
    """Where the jar for the current sources lives (whether or not it is built yet)."""
    return cache_dir() / "jars" / f"{JAR_PREFIX}{sources_digest()}.jar"


def fs_jar_path() -> Path:
    """Where the path-mapping file systems' jar lives (whether or not it is built yet)."""
    return cache_dir() / "jars" / f"{FS_JAR_PREFIX}{sources_digest(_fs_sources())}.jar"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise CatalogBuildError("java is not on PATH (and JAVA_HOME is not set): Java 17 is required")
    return found


def _scala_jar(jars: Path, name: str) -> Path:
    found = sorted(jars.glob(f"{name}-2.13.*.jar"))
    if not found:
        raise CatalogBuildError(f"{jars} has no {name}-2.13.*.jar; cannot compile the catalog")
    return found[-1]


def build_catalog_jar(*, force: bool = False, timeout: float = 600) -> Path:
    """Return the catalog jar, compiling it first if the cached one is missing or stale.

    Safe to call from several processes at once: a file lock serialises the compile, and the
    jar is moved into place atomically. Raises :class:`CatalogBuildError` with the compiler
    output when compilation fails.
    """
    return _build(catalog_jar_path(), SOURCES_DIR, force=force, timeout=timeout)


def build_fs_jar(*, force: bool = False, timeout: float = 600) -> Path:
    """Return the jar of the ``/Volumes`` and ``dbfs:`` file systems, compiling it if needed."""
    return _build(fs_jar_path(), _fs_sources(), force=force, timeout=timeout)


def _build(jar: Path, folder: Path, *, force: bool, timeout: float) -> Path:
    if jar.is_file() and not force:
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    with open(jar.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jar.is_file() and not force:
            return jar
        _compile(jar, folder, timeout)
    return jar


def _compile(jar: Path, folder: Path, timeout: float) -> None:
    jars = pyspark_jars_dir()
    compiler_cp = os.pathsep.join(
        str(_scala_jar(jars, n)) for n in ("scala-compiler", "scala-library", "scala-reflect")
    )
    tmp = jar.with_name(f".{jar.name}.{os.getpid()}.tmp.jar")
    cmd = [
        _java(), "-Xss8m", "-cp", compiler_cp, "scala.tools.nsc.Main",
        "-usejavacp", "-nowarn", "-cp", str(jars / "*"), "-d", str(tmp),
        *(str(f) for f in source_files(folder)),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise CatalogBuildError(f"compiling {folder} timed out after {timeout:.0f}s") from e
    try:
        if proc.returncode != 0 or not tmp.is_file():
            output = (proc.stdout + proc.stderr).strip()[-4000:]
            raise CatalogBuildError(f"compiling the Scala sources in {folder} failed:\n{output}")
        os.replace(tmp, jar)
    finally:
        tmp.unlink(missing_ok=True)
