"""The Delta Lake jars for Spark, taken from the local Maven repository.

Spark's own Ivy resolution (``spark.jars.packages``) is brittle (it fails on a transitive
slf4j artifact), so lakeloom fills the local Maven repository with ``mvn dependency:get`` once,
at ``lakeloom setup`` time, and hands Spark exactly two jars through ``spark.jars``:
``delta-spark`` and ``delta-storage``. Everything else Delta needs already ships in
``pyspark/jars``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

DELTA_VERSION = "4.4.0"
"""Matches the pinned pip ``delta-spark``; 4.4.1's Spark 4.2 artifact is not on Maven Central."""
SCALA_BINARY_VERSION = "2.13"
DELTA_SPARK_ARTIFACT = f"io.delta:delta-spark_4.2_{SCALA_BINARY_VERSION}:{DELTA_VERSION}"
DELTA_STORAGE_ARTIFACT = f"io.delta:delta-storage:{DELTA_VERSION}"
DELTA_ARTIFACTS: tuple[str, ...] = (DELTA_SPARK_ARTIFACT, DELTA_STORAGE_ARTIFACT)
SQLITE_JDBC_ARTIFACT = "org.xerial:sqlite-jdbc:3.50.3.0"
"""The SQLite JDBC driver: the ``system.lakeflow`` tables read the run store with it."""
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class DeltaJarsError(RuntimeError):
    """The Delta jars are missing from the local Maven repository and could not be fetched."""


def maven_repository() -> Path:
    """The local Maven repository: ``$M2_REPO`` if set, else ``~/.m2/repository``."""
    env = os.environ.get("M2_REPO")
    return Path(env).expanduser() if env else Path.home() / ".m2" / "repository"


def artifact_path(coordinate: str, repository: Path | None = None) -> Path:
    """Where Maven stores the jar of ``group:artifact:version`` in ``repository``."""
    parts = coordinate.split(":")
    if len(parts) == 3:
        (group, artifact, version), classifier = parts, ""
    elif len(parts) == 5 and parts[3] == "jar":
        group, artifact, version, _, classifier = parts
    else:
        raise ValueError(f"not a Maven coordinate group:artifact:version[:jar:classifier]: {coordinate!r}")
    repo = repository or maven_repository()
    suffix = f"-{classifier}" if classifier else ""
    return repo.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}{suffix}.jar")


def delta_jar_paths(repository: Path | None = None) -> list[Path]:
    """Paths of the Delta jars (``delta-spark``, ``delta-storage``) in the local Maven repository.

    The paths are returned whether or not the files exist; see :func:`missing_delta_jars` and
    :func:`ensure_delta_jars`.
    """
    return [artifact_path(c, repository) for c in DELTA_ARTIFACTS]


def missing_delta_jars(repository: Path | None = None,
                       artifacts: tuple[str, ...] = DELTA_ARTIFACTS) -> list[str]:
    """Coordinates of the ``artifacts`` (default: Delta's) whose jar is not in the local Maven repository."""
    return [c for c in artifacts if not artifact_path(c, repository).is_file()]


def _mvn_command(coordinate: str, repository: Path | None, transitive: bool = True) -> list[str]:
    cmd = ["mvn", "-q", "-B", f"{MAVEN_DEPENDENCY_PLUGIN}:get", f"-Dartifact={coordinate}"]
    if not transitive:
        cmd.append("-Dtransitive=false")
    if repository is not None or os.environ.get("M2_REPO"):
        cmd.append(f"-Dmaven.repo.local={repository or maven_repository()}")
    return cmd


def ensure_sqlite_jdbc_jar(repository: Path | None = None, *, timeout: float = 900) -> Path:
    """The SQLite JDBC driver's jar, fetched with Maven first if missing (see :func:`ensure_delta_jars`)."""
    return ensure_delta_jars(repository, timeout=timeout, artifacts=(SQLITE_JDBC_ARTIFACT,))[0]


def ensure_maven_jars(coordinates: tuple[str, ...] | list[str], repository: Path | None = None, *,
                      timeout: float = 900, transitive: bool = False) -> list[Path]:
    """The jars of ``coordinates`` (each alone unless ``transitive``), fetched with Maven first
    when missing; see :func:`ensure_delta_jars`."""
    return ensure_delta_jars(repository, timeout=timeout, artifacts=tuple(coordinates), transitive=transitive)


def ensure_delta_jars(repository: Path | None = None, *, timeout: float = 900,
                      artifacts: tuple[str, ...] = DELTA_ARTIFACTS, transitive: bool = True) -> list[Path]:
    """Return the jar paths of ``artifacts`` (default: Delta's), downloading them with Maven
    first if any is missing.

    Raises :class:`DeltaJarsError` naming the missing artifact and the command to run when
    ``mvn`` is not installed or fails.
    """
    missing = missing_delta_jars(repository, artifacts)
    if not missing:
        return [artifact_path(c, repository) for c in artifacts]
    # delta-spark depends on delta-storage, so fetching it usually fills both.
    for coordinate in [c for c in artifacts if c in missing]:
        if artifact_path(coordinate, repository).is_file():
            continue
        cmd = _mvn_command(coordinate, repository, transitive)
        hint = f"the jar {coordinate} is not in {repository or maven_repository()}; run: {' '.join(cmd)}"
        if shutil.which("mvn") is None:
            raise DeltaJarsError(f"{hint} (Maven `mvn` is not on PATH: install it, e.g. apt-get install maven)")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise DeltaJarsError(f"{hint} (timed out after {timeout:.0f}s)") from e
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()[-2000:]
            raise DeltaJarsError(f"{hint} (mvn exited with {proc.returncode}):\n{output}")
    still_missing = missing_delta_jars(repository, artifacts)
    if still_missing:
        raise DeltaJarsError(
            f"mvn succeeded but {', '.join(still_missing)} is still missing from "
            f"{repository or maven_repository()}; run: {' '.join(_mvn_command(still_missing[0], repository))}"
        )
    return [artifact_path(c, repository) for c in artifacts]
