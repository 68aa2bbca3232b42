"""Locating and fetching the Delta jars (no Spark needed)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lakeloom.runtime import delta_jars
from lakeloom.runtime.delta_jars import (
    DELTA_SPARK_ARTIFACT,
    DELTA_STORAGE_ARTIFACT,
    DeltaJarsError,
    artifact_path,
    delta_jar_paths,
    ensure_delta_jars,
    missing_delta_jars,
)


def test_coordinates_pin_the_spark_4_2_artifact_that_exists_on_maven_central() -> None:
    assert DELTA_SPARK_ARTIFACT == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert DELTA_STORAGE_ARTIFACT == "io.delta:delta-storage:4.4.0"


def test_artifact_path_follows_the_maven_layout(tmp_path: Path) -> None:
    assert artifact_path(DELTA_SPARK_ARTIFACT, tmp_path) == (
        tmp_path / "io/delta/delta-spark_4.2_2.13/4.4.0/delta-spark_4.2_2.13-4.4.0.jar"
    )
    with pytest.raises(ValueError, match="group:artifact:version"):
        artifact_path("io.delta:delta-spark", tmp_path)


def test_m2_repo_env_moves_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M2_REPO", str(tmp_path))
    assert all(p.is_relative_to(tmp_path) for p in delta_jar_paths())
    assert missing_delta_jars() == [DELTA_SPARK_ARTIFACT, DELTA_STORAGE_ARTIFACT]
    monkeypatch.delenv("M2_REPO")
    assert delta_jar_paths()[0].is_relative_to(Path.home() / ".m2" / "repository")


def test_ensure_returns_existing_jars_of_the_real_repository() -> None:
    # Fetches them on a fresh machine (that is what `lakeloom setup` relies on).
    jars = ensure_delta_jars()
    assert [p.name for p in jars] == ["delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar"]
    assert all(p.is_file() for p in jars)


def test_missing_mvn_names_the_artifact_and_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M2_REPO", str(tmp_path / "m2"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DeltaJarsError) as err:
        ensure_delta_jars()
    message = str(err.value)
    assert DELTA_SPARK_ARTIFACT in message
    assert "maven-dependency-plugin:3.8.1:get" in message
    assert "mvn` is not on PATH" in message


def test_failing_mvn_reports_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mvn"
    fake.write_text("#!/bin/sh\necho 'Could not resolve artifact' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("M2_REPO", str(tmp_path / "m2"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(DeltaJarsError, match=r"(?s)exited with 3.*Could not resolve artifact"):
        ensure_delta_jars()
    assert delta_jars.missing_delta_jars() == [DELTA_SPARK_ARTIFACT, DELTA_STORAGE_ARTIFACT]
