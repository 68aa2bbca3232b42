"""Compiling the catalog's Scala sources into the cached jar."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from lakeloom.catalog import build
from lakeloom.catalog.build import CatalogBuildError, build_catalog_jar, catalog_jar_path, sources_digest


def test_jar_is_cached_by_sources_and_spark_version() -> None:
    jar = build_catalog_jar()
    assert jar == catalog_jar_path()
    assert jar.name == f"lakeloom-catalog-{sources_digest()}.jar"
    with zipfile.ZipFile(jar) as z:
        names = set(z.namelist())
    # The store must live under io.unitycatalog. for Delta's isUnityCatalog check.
    assert "io/unitycatalog/lakeloom/LakeloomStore.class" in names
    assert "io/lakeloom/catalog/LakeloomCatalog.class" in names
    assert "io/lakeloom/catalog/LakeloomSparkExtensions.class" in names
    assert build_catalog_jar() == jar  # second call: no rebuild


def test_editing_a_source_changes_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tmp_path / "jvm"
    shutil.copytree(build.SOURCES_DIR, sources)
    monkeypatch.setattr(build, "SOURCES_DIR", sources)
    before = sources_digest()
    with (sources / "LakeloomExtensions.scala").open("a") as f:
        f.write("\n// edited\n")
    assert sources_digest() != before


def test_compile_error_is_reported_with_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tmp_path / "jvm"
    sources.mkdir()
    (sources / "Broken.scala").write_text("object Broken { val x: Int = \"not an int\" }\n")
    monkeypatch.setattr(build, "SOURCES_DIR", sources)
    monkeypatch.setenv("LAKELOOM_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(CatalogBuildError, match=r"(?s)failed:.*Broken\.scala.*type mismatch"):
        build_catalog_jar()
    assert not list((tmp_path / "cache" / "jars").glob("*.jar"))
