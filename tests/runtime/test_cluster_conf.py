"""Settings for executors in other processes, and ``storage.root`` (no JVM is started)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.catalog.build import build_fs_jar
from lakeloom.config import Workspace
from lakeloom.runtime.cluster_conf import StorageConfigError, storage_connector_conf
from lakeloom.runtime.spark import spark_conf, spark_submit_conf


def test_a_cluster_master_ships_the_file_system_jar_to_the_executors(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"spark": {"master": "spark://127.0.0.1:7077"}})
    conf = spark_conf(ws)
    fs_jar = str(build_fs_jar())
    jars = conf["spark.jars"].split(",")
    assert fs_jar in jars and any("delta-spark" in j for j in jars) and any("lakeloom-catalog" in j for j in jars)
    assert conf["spark.executor.extraClassPath"] == fs_jar
    assert conf["spark.driver.extraClassPath"] == fs_jar
    assert conf["spark.hadoop.fs.file.impl"] == "io.lakeloom.fs.LakeloomLocalFileSystem"
    assert conf["spark.hadoop.fs.lakeloom.volumes.root"] == str((tmp_path / ".lakeloom" / "volumes").resolve())
    # A loopback master can only reach a driver that advertises loopback.
    assert conf["spark.driver.host"] == "127.0.0.1"
    # Delta's default snapshot partitioning is kept on a cluster.
    assert "spark.databricks.delta.snapshotPartitions" not in conf
    local = spark_conf(ws, master="local[2]")
    assert "spark.executor.extraClassPath" not in local and local["spark.databricks.delta.snapshotPartitions"] == "2"


def test_spark_submit_conf_follows_the_master_given_on_the_command_line(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path)  # local[*] in the config
    assert "spark.executor.extraClassPath" not in spark_submit_conf(ws)
    conf = spark_submit_conf(ws, master="spark://10.0.0.5:7077")
    assert conf["spark.executor.extraClassPath"] == str(build_fs_jar())
    assert "spark.driver.host" not in conf and "spark.master" not in conf


def test_storage_root_moves_warehouse_volumes_dbfs_and_checkpoints(tmp_path: Path) -> None:
    shared = tmp_path / "mnt" / "lake"
    ws = Workspace(root=tmp_path / "ws", settings={"storage": {"root": shared.as_uri()},
                                                   "dbfs": {"root": str(tmp_path / "own-dbfs")}})
    assert ws.warehouse_dir == shared / "warehouse" and ws.warehouse_uri == (shared / "warehouse").as_uri()
    assert ws.volumes_root == shared / "volumes" and ws.checkpoints_dir == shared / "checkpoints"
    assert ws.dbfs_root == tmp_path / "own-dbfs"  # an explicit root still wins
    conf = spark_conf(ws)
    assert conf["spark.sql.catalog.main.warehouse"] == (shared / "warehouse").as_uri()
    assert conf["spark.sql.warehouse.dir"] == f"{(shared / 'warehouse').as_uri()}/_spark_catalog"
    # A plain path is a file: root.
    assert Workspace(root=tmp_path, settings={"storage": {"root": str(shared)}}).storage_root == shared.as_uri()


def test_an_object_store_root_holds_the_managed_tables(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"storage": {"root": "hdfs://namenode:8020/lake/"}})
    assert ws.warehouse_uri == "hdfs://namenode:8020/lake/warehouse"
    assert not ws.storage_is_local
    assert storage_connector_conf(ws) == {}  # Spark's Hadoop client has HDFS built in
    assert spark_conf(ws)["spark.sql.catalog.main.warehouse"] == "hdfs://namenode:8020/lake/warehouse"


def test_an_unknown_storage_scheme_is_rejected_naming_the_setting(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"storage": {"root": "ftp://host/lake"}})
    with pytest.raises(StorageConfigError, match=r"storage.root 'ftp://host/lake': unsupported scheme 'ftp'"):
        storage_connector_conf(ws)
