"""Class-data sharing for the driver: the archive's key, the options a session gets, and a real
session started from the archive that ``lakeloom setup`` built."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lakeloom.config import Workspace
from lakeloom.runtime import jvm_cds
from lakeloom.runtime.spark import spark_conf


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAKELOOM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(jvm_cds.CDS_ENV, raising=False)
    monkeypatch.delenv(jvm_cds.DUMP_ENV, raising=False)
    return tmp_path / "cache"


def test_key_follows_every_jar_of_the_class_path(tmp_path: Path) -> None:
    jar, fs_jar = tmp_path / "extra.jar", tmp_path / "fs.jar"
    jar.write_bytes(b"one")
    fs_jar.write_bytes(b"fs")
    conf = {"spark.jars": f"file:{jar}", "spark.driver.extraClassPath": str(fs_jar)}
    key = jvm_cds.archive_key(conf)
    assert key is not None and key == jvm_cds.archive_key(dict(conf))
    jar.write_bytes(b"rebuilt")  # a rebuilt catalog jar: the old archive no longer applies
    assert jvm_cds.archive_key(conf) != key
    assert jvm_cds.archive_key({**conf, "spark.driver.extraClassPath": ""}) != jvm_cds.archive_key(conf)


def test_options_name_the_archive_only_when_it_exists(cache: Path) -> None:
    conf = {"spark.driver.extraJavaOptions": "-Dx=1"}
    # A missing file would also turn off the JDK's own archive: no option at all.
    assert jvm_cds.with_driver_options(dict(conf)) == conf
    path = jvm_cds.archive_path(jvm_cds.archive_key(conf) or "")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    options = jvm_cds.with_driver_options(dict(conf))["spark.driver.extraJavaOptions"]
    assert options.startswith("-Dx=1 ") and f"-XX:SharedArchiveFile={path}" in options
    assert "-Xlog:cds=off" in options  # a stale archive must not print JVM warnings to the terminal


def test_switch_and_user_choices_are_respected(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = {"spark.driver.extraJavaOptions": ""}
    path = jvm_cds.archive_path(jvm_cds.archive_key(conf) or "")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    mine = {"spark.driver.extraJavaOptions": "-Xshare:off"}
    assert jvm_cds.with_driver_options(dict(mine)) == mine
    monkeypatch.setenv(jvm_cds.CDS_ENV, "0")
    assert jvm_cds.with_driver_options(dict(conf)) == conf
    assert "off" in jvm_cds.train() and jvm_cds.ensure(conf) == [f"class-data sharing: off ({jvm_cds.CDS_ENV}=0)"]


def test_training_child_gets_the_dump_option(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(jvm_cds.DUMP_ENV, "/tmp/x.partial")
    assert "-XX:ArchiveClassesAtExit=/tmp/x.partial" in jvm_cds.driver_options({})


def test_spark_conf_adds_the_archive_last(cache: Path, tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path / "ws", settings={"spark": {"master": "local[1]"}})
    conf = spark_conf(ws)
    assert "SharedArchiveFile" not in conf["spark.driver.extraJavaOptions"]
    path = jvm_cds.archive_path(jvm_cds.archive_key(conf) or "")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    assert f"-XX:SharedArchiveFile={path}" in spark_conf(ws)["spark.driver.extraJavaOptions"]
    assert "lakeloom.logs" in spark_conf(ws)["spark.driver.extraJavaOptions"]  # appended, not replaced


def test_the_session_maps_the_archive_lakeloom_setup_built(spark, spark_workspace: Workspace) -> None:
    if not jvm_cds.enabled():
        pytest.skip(f"{jvm_cds.CDS_ENV}=0")
    args = list(spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    archive = next((a.split("=", 1)[1] for a in args if a.startswith("-XX:SharedArchiveFile=")), None)
    assert archive is not None, (
        "the test session started without a class-data sharing archive: `make test` runs `lakeloom setup`, "
        "which builds it for this class path (run it after changing the Scala sources)")
    assert Path(archive) == jvm_cds.archive_path(jvm_cds.archive_key(spark_conf(spark_workspace)) or "")
    pid = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getPid()
    out = subprocess.run(["jcmd", str(pid), "VM.metaspace"], capture_output=True, text=True, check=True).stdout
    # "Total Usage - 171 loaders, 12050 classes (9976 shared)": the JDK's own archive shares ~1,400
    # classes; thousands more means Spark's classes came from lakeloom's archive.
    line = next(line for line in out.splitlines() if line.startswith("Total Usage"))
    shared = int(line.split("(")[1].split()[0])
    assert shared > 5000, line
    assert os.path.getsize(archive) > 50 * 2**20


def test_a_driver_without_pyspark_jars_gets_no_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    # The driver spark-submit starts imports pyspark from pyspark.zip: no jars folder, no key.
    from lakeloom.catalog.build import CatalogBuildError

    def no_jars() -> Path:
        raise CatalogBuildError("pyspark.zip has no jars folder")

    monkeypatch.setattr(jvm_cds, "pyspark_jars_dir", no_jars)
    assert jvm_cds.archive_key({}) is None
    assert jvm_cds.with_driver_options({"spark.driver.extraJavaOptions": "-Dx=1"}) == {
        "spark.driver.extraJavaOptions": "-Dx=1"}
