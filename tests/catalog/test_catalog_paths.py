"""Databricks paths in Spark itself: ``/Volumes/<catalog>/<schema>/<volume>/...`` and ``dbfs:/...``
resolve to the workspace's volumes and DBFS folders for reads, writes, SQL on paths, Delta
tables and streaming checkpoints, while every other local path is left alone. (Missing volumes:
test_catalog_volume_paths.py.)"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeloom.catalog import path_mapping_conf
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module", autouse=True)
def volumes(spark) -> Iterator[None]:  # noqa: ANN001
    """The volumes these tests use: a /Volumes path needs its volume, as in Unity Catalog."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.paths")
    for name in ("landing", "stream_in", "out", "chk"):
        spark.sql(f"CREATE VOLUME IF NOT EXISTS main.paths.{name}")
    yield
    spark.sql("DROP SCHEMA main.paths CASCADE")


def _landing(spark_workspace: Workspace, name: str) -> Path:
    folder = spark_workspace.volumes_root / "main" / "paths" / name
    for day, rows in (("2026-01-01", [1, 2]), ("2026-01-02", [3])):
        (folder / f"day={day}").mkdir(parents=True, exist_ok=True)
        (folder / f"day={day}" / "part.json").write_text("".join(json.dumps({"x": x}) + "\n" for x in rows))
    return folder


def test_spark_reads_volume_paths_with_partition_discovery(spark, spark_workspace: Workspace) -> None:
    _landing(spark_workspace, "landing")
    df = spark.read.json("/Volumes/main/paths/landing")
    assert sorted((r.x, str(r.day)) for r in df.collect()) == [
        (1, "2026-01-01"), (2, "2026-01-01"), (3, "2026-01-02")]
    # Listings keep the path the reader gave, not the folder it maps to.
    assert all(f.startswith("file:/Volumes/main/paths/landing/day=") for f in df.inputFiles())
    one = spark.sql("SELECT count(*) FROM json.`/Volumes/main/paths/landing/day=2026-01-01/part.json`").first()[0]
    assert one == 2


def test_delta_table_and_stream_checkpoint_at_volume_paths(spark, spark_workspace: Workspace) -> None:
    _landing(spark_workspace, "stream_in")
    target = "/Volumes/main/paths/out/events"
    spark.range(5).write.format("delta").mode("overwrite").save(target)
    spark.range(3).write.format("delta").mode("append").save(target)
    assert spark.read.format("delta").load(target).count() == 8
    versions = [r.version for r in spark.sql(f"DESCRIBE HISTORY delta.`{target}`").collect()]
    assert sorted(versions) == [0, 1]
    local = spark_workspace.volumes_root / "main" / "paths" / "out" / "events"
    assert (local / "_delta_log" / "00000000000000000001.json").is_file()

    stream = (spark.readStream.schema("x long").json("/Volumes/main/paths/stream_in")
              .writeStream.format("delta").option("checkpointLocation", "/Volumes/main/paths/chk/s")
              .trigger(availableNow=True).start("/Volumes/main/paths/out/streamed"))
    stream.awaitTermination()
    assert spark.read.format("delta").load("/Volumes/main/paths/out/streamed").count() == 3
    assert (spark_workspace.volumes_root / "main" / "paths" / "chk" / "s" / "offsets").is_dir()


def test_dbfs_paths_read_and_write_under_the_dbfs_root(spark, spark_workspace: Workspace) -> None:
    csv = spark_workspace.dbfs_root / "FileStore" / "paths" / "in.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    csv.write_text("a,b\n1,x\n2,y\n")
    rows = spark.read.option("header", True).csv("dbfs:/FileStore/paths/in.csv").collect()
    assert [(r.a, r.b) for r in rows] == [("1", "x"), ("2", "y")]
    spark.range(4).write.mode("overwrite").parquet("dbfs:/tmp/paths/pq")
    assert spark.read.parquet("dbfs:/tmp/paths/pq").count() == 4
    assert list((spark_workspace.dbfs_root / "tmp" / "paths" / "pq").glob("part-*.parquet"))
    spark.range(2).write.format("delta").mode("overwrite").save("dbfs:/Volumes/main/paths/out/via_dbfs")
    assert (spark_workspace.volumes_root / "main" / "paths" / "out" / "via_dbfs" / "_delta_log").is_dir()


def test_other_local_paths_are_untouched(spark, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    spark.range(3).write.mode("overwrite").parquet(str(plain))
    assert spark.read.parquet(plain.as_uri()).count() == 3
    assert list(plain.glob("part-*.parquet"))
    missing = "/Volumes/main/paths/landing/never_written"
    with pytest.raises(Exception, match="PATH_NOT_FOUND"):
        spark.read.json(missing).collect()


def test_permissions_and_link_status_without_a_process(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    """The local file systems set permissions and read link status in the JVM (Hadoop would fork
    chmod / readlink without its native library), with Hadoop's results, on plain and volume paths."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI.create("file:///"), conf)
    perm = jvm.org.apache.hadoop.fs.permission.FsPermission
    plain = tmp_path / "data.txt"
    plain.write_text("x")
    link = tmp_path / "link.txt"
    link.symlink_to(plain)
    fs.setPermission(jvm.org.apache.hadoop.fs.Path(plain.as_uri()), perm(0o640))
    assert plain.stat().st_mode & 0o777 == 0o640
    folder = spark_workspace.volumes_root / "main" / "paths" / "out" / "perm"
    folder.mkdir(parents=True, exist_ok=True)
    fs.setPermission(jvm.org.apache.hadoop.fs.Path("/Volumes/main/paths/out/perm"), perm(0o751))
    assert folder.stat().st_mode & 0o777 == 0o751
    with pytest.raises(Exception, match="FileNotFound|NoSuchFile"):
        fs.setPermission(jvm.org.apache.hadoop.fs.Path((tmp_path / "missing").as_uri()), perm(0o600))
    regular = fs.getFileLinkStatus(jvm.org.apache.hadoop.fs.Path(str(plain)))
    assert not regular.isSymlink() and regular.getLen() == 1
    symlink = fs.getFileLinkStatus(jvm.org.apache.hadoop.fs.Path(str(link)))
    assert symlink.isSymlink() and symlink.getSymlink().toUri().getPath() == str(plain)
    mapped = fs.getFileLinkStatus(jvm.org.apache.hadoop.fs.Path("/Volumes/main/paths/out/perm"))
    assert mapped.isDirectory() and mapped.getPath().toUri().getPath() == "/Volumes/main/paths/out/perm"


def test_path_mapping_conf_names_the_workspace_folders(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"volumes": {"root": str(tmp_path / "vols")}})
    conf = path_mapping_conf(ws, build=False)
    assert conf["spark.hadoop.fs.lakeloom.volumes.root"] == str((tmp_path / "vols").resolve())
    assert conf["spark.hadoop.fs.lakeloom.dbfs.root"] == str(ws.dbfs_root.resolve())
    assert conf["spark.hadoop.fs.lakeloom.catalog.store"] == str(ws.catalog_dir.resolve())
    assert conf["spark.hadoop.fs.file.impl"] == "io.lakeloom.fs.LakeloomLocalFileSystem"
    assert conf["spark.driver.extraClassPath"].endswith(".jar")
