"""A ``/Volumes/<catalog>/<schema>/<volume>/...`` path whose volume does not exist fails as on
Databricks (``[UC_VOLUME_NOT_FOUND] ... SQLSTATE: 42704``) on every access path: Spark reads,
writes, Delta, SQL on paths, streaming checkpoints, ``dbutils.fs``, Auto Loader, ``COPY INTO`` and
``read_files``; nothing is written. A volume created or dropped by another process is seen at once."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeloom.catalog.volumes import NotAVolumePathError, VolumeNotFoundError
from lakeloom.config import Workspace
from lakeloom.plugin_api import TaskContext
from lakeloom.plugin_api.context import activate
from lakeloom.runtime.dbutils import dbutils

pytestmark = pytest.mark.spark


def _not_found(volume: str) -> str:
    return (f"[UC_VOLUME_NOT_FOUND] Volume `main`.`vp`.`{volume}` does not exist. "
            "Please use 'SHOW VOLUMES' to list available volumes. SQLSTATE: 42704")


@pytest.fixture(scope="module", autouse=True)
def schema(spark, spark_workspace: Workspace) -> Iterator[Path]:  # noqa: ANN001
    """Schema main.vp with one volume, ``files``, holding a JSON file."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.vp")
    spark.sql("CREATE VOLUME IF NOT EXISTS main.vp.files")
    files = spark_workspace.volumes_root / "main" / "vp" / "files"
    (files / "in").mkdir(parents=True, exist_ok=True)
    (files / "in" / "a.json").write_text('{"id": 1}\n')
    yield spark_workspace.volumes_root / "main" / "vp"
    spark.sql("DROP SCHEMA main.vp CASCADE")


@pytest.fixture
def task(spark, spark_workspace: Workspace, tmp_path: Path) -> Iterator[TaskContext]:  # noqa: ANN001
    """A task of the session's workspace, as dbutils and Auto Loader see it inside a job."""
    ctx = TaskContext(
        run_id=1, job_id=1, job_name="j", task_key="t", task_run_id=1, attempt_number=0, execution_count=1,
        parameters={}, job_parameters={}, task_values=None, logger=logging.getLogger("t"),  # type: ignore[arg-type]
        workspace=spark_workspace, base_dir=tmp_path, cancel_event=threading.Event(),
        spark_provider=lambda: spark, resolver=lambda s: s, services=None)  # type: ignore[arg-type]
    with activate(ctx):
        yield ctx


def _fails_as_missing(action: Callable[[], Any], volume: str = "nope") -> Exception:
    with pytest.raises(Exception) as info:
        action()
    assert str(info.value).startswith(_not_found(volume)), str(info.value)[:400]
    assert (info.value.getCondition(), info.value.getSqlState()) == ("UC_VOLUME_NOT_FOUND", "42704")
    return info.value


def test_spark_reads_writes_sql_and_checkpoints_need_the_volume(spark, schema: Path, tmp_path: Path) -> None:  # noqa: ANN001
    def stream() -> None:
        (spark.readStream.schema("id long").json("/Volumes/main/vp/files/in").writeStream.format("delta")
         .option("checkpointLocation", "/Volumes/main/vp/nope/chk").trigger(availableNow=True)
         .start(str(tmp_path / "streamed")).awaitTermination())

    actions = {
        "read": lambda: spark.read.json("/Volumes/main/vp/nope/in").collect(),
        "write": lambda: spark.range(2).write.mode("overwrite").parquet("/Volumes/main/vp/nope/p"),
        "delta": lambda: spark.range(2).write.format("delta").save("/Volumes/main/vp/nope/d"),
        "sql": lambda: spark.sql("SELECT * FROM json.`/Volumes/main/vp/nope/in`").collect(),
        "dbfs": lambda: spark.range(2).write.mode("overwrite").parquet("dbfs:/Volumes/main/vp/nope/p"),
        "checkpoint": stream,
    }
    for name, action in actions.items():
        error = _fails_as_missing(action)
        assert type(error).__name__ == "AnalysisException", name
    assert not (schema / "nope").exists()  # nothing was written on the way
    assert spark.read.json("/Volumes/main/vp/files/in").first().id == 1  # the existing volume works


def test_a_volume_made_or_dropped_by_another_process_is_seen_at_once(spark, spark_workspace: Workspace,  # noqa: ANN001
                                                                     schema: Path) -> None:
    target = "/Volumes/main/vp/late/numbers"
    _fails_as_missing(lambda: spark.range(3).write.parquet(target), "late")
    record = spark_workspace.catalog_dir / "main" / "vp" / "volumes" / "late.json"
    # Another process publishes a record in the documented format (what CREATE VOLUME writes).
    publish = textwrap.dedent(f"""
        import json, os, sys
        record = {{"name": "late", "catalog_name": "main", "schema_name": "vp", "full_name": "main.vp.late",
                   "volume_type": "MANAGED", "owner": "someone", "format_version": 1}}
        os.makedirs(os.path.dirname({str(record)!r}), exist_ok=True)
        with open({str(record)!r} + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace({str(record)!r} + ".tmp", {str(record)!r})
    """)
    subprocess.run([sys.executable, "-c", publish], check=True)
    spark.range(3).write.parquet(target)
    assert spark.read.parquet(target).count() == 3
    subprocess.run([sys.executable, "-c", f"import os; os.remove({str(record)!r})"], check=True)
    _fails_as_missing(lambda: spark.read.parquet(target).count(), "late")


def test_dbutils_fs_needs_the_volume(task: TaskContext, schema: Path) -> None:
    for action in (
        lambda: dbutils.fs.ls("/Volumes/main/vp/nope"),
        lambda: dbutils.fs.put("/Volumes/main/vp/nope/a.txt", "x"),
        lambda: dbutils.fs.mkdirs("/Volumes/main/vp/nope/dir"),
        lambda: dbutils.fs.head("/Volumes/main/vp/nope/a.txt"),
        lambda: dbutils.fs.cp("/Volumes/main/vp/files/in/a.json", "/Volumes/main/vp/nope/a.json"),
        lambda: dbutils.fs.mv("/Volumes/main/vp/nope/a.json", "/Volumes/main/vp/files/b.json"),
        lambda: dbutils.fs.rm("/Volumes/main/vp/nope", recurse=True),
    ):
        error = _fails_as_missing(action)
        assert isinstance(error, VolumeNotFoundError)
    # A file directly in a schema names a volume that does not exist; a folder there is no volume.
    _fails_as_missing(lambda: dbutils.fs.put("/Volumes/main/vp/notes.txt", "x"), "notes.txt")
    with pytest.raises(NotAVolumePathError, match="is not inside a volume"):
        dbutils.fs.mkdirs("/Volumes/main/vp")
    assert not (schema / "nope").exists() and not (schema / "notes.txt").exists()
    assert dbutils.fs.put("/Volumes/main/vp/files/ok.txt", "fine", overwrite=True)


def test_auto_loader_copy_into_and_read_files_need_the_volume(spark, task: TaskContext, schema: Path) -> None:  # noqa: ANN001
    def auto_loader(source: str, schema_location: str) -> None:
        (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
         .option("cloudFiles.schemaLocation", schema_location).load(source))

    _fails_as_missing(lambda: auto_loader("/Volumes/main/vp/nope/in", "/Volumes/main/vp/files/_schema"))
    _fails_as_missing(lambda: auto_loader("/Volumes/main/vp/files/in", "/Volumes/main/vp/nope/_schema"))
    spark.sql("CREATE TABLE IF NOT EXISTS main.vp.loaded (id BIGINT)")
    _fails_as_missing(lambda: spark.sql(
        "COPY INTO main.vp.loaded FROM '/Volumes/main/vp/nope/in' FILEFORMAT = JSON").collect())
    _fails_as_missing(lambda: spark.sql("SELECT * FROM read_files('/Volumes/main/vp/nope/in', format => 'json')"))
    _fails_as_missing(lambda: spark.sql(
        "SELECT * FROM STREAM read_files('/Volumes/main/vp/nope/in', format => 'json')"))
    assert not (schema / "nope").exists()
    assert spark.sql("COPY INTO main.vp.loaded FROM '/Volumes/main/vp/files/in' FILEFORMAT = JSON"
                     ).first().num_inserted_rows == 1
    assert spark.table("main.vp.loaded").first().asDict() == {"id": 1}
