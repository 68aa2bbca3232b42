"""READ VOLUME / WRITE VOLUME on ``/Volumes/...`` paths, for Spark (the path file systems) and
``dbutils.fs``, with two principals: ``alice`` may read the volume, ``bob`` may use the schema
but holds nothing on it. Denials carry Databricks' ``[INSUFFICIENT_PERMISSIONS]`` text and are
audited; a grant counts at once; the owner holds everything; creating and dropping a volume
need CREATE VOLUME and ownership."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeloom.catalog import audit, identity
from lakeloom.catalog.identity import as_principal
from lakeloom.catalog.volumes import VolumePermissionError
from lakeloom.config import Workspace
from lakeloom.plugin_api import TaskContext
from lakeloom.plugin_api.context import activate
from lakeloom.runtime.dbutils import dbutils

pytestmark = pytest.mark.spark


def _denied(privilege: str, on: str = "Volume 'main.vg.files'") -> str:
    return f"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have {privilege} on {on}. SQLSTATE: 42501"


@pytest.fixture(scope="module")
def gov(spark: Any, spark_workspace: Workspace) -> Iterator[Workspace]:
    """Volume main.vg.files (owned by the admin running the tests) holding in/a.json; alice and
    bob may use catalog and schema; alice may read the volume."""
    identity.publish(spark_workspace)
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.vg")
    spark.sql("CREATE VOLUME IF NOT EXISTS main.vg.files")
    folder = spark_workspace.volumes_root / "main" / "vg" / "files" / "in"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.json").write_text('{"id": 1}\n')
    for who in ("alice", "bob"):
        spark.sql(f"GRANT USE CATALOG ON CATALOG main TO `{who}`")
        spark.sql(f"GRANT USE SCHEMA ON SCHEMA main.vg TO `{who}`")
    spark.sql("GRANT READ VOLUME ON VOLUME main.vg.files TO `alice`")
    yield spark_workspace
    for who in ("alice", "bob"):
        spark.sql(f"REVOKE USE CATALOG ON CATALOG main FROM `{who}`")
    spark.sql("DROP SCHEMA main.vg CASCADE")


@pytest.fixture
def task(spark: Any, gov: Workspace, tmp_path: Path) -> Iterator[TaskContext]:
    ctx = TaskContext(
        run_id=1, job_id=1, job_name="j", task_key="t", task_run_id=1, attempt_number=0, execution_count=1,
        parameters={}, job_parameters={}, task_values=None, logger=logging.getLogger("t"),  # type: ignore[arg-type]
        workspace=gov, base_dir=tmp_path, cancel_event=threading.Event(),
        spark_provider=lambda: spark, resolver=lambda s: s, services=None)  # type: ignore[arg-type]
    with activate(ctx):
        yield ctx


def _fails(action: Any, text: str) -> Exception:
    with pytest.raises(Exception) as info:
        action()
    assert str(info.value).startswith(text), str(info.value)[:300]
    assert (info.value.getCondition(), info.value.getSqlState()) == ("INSUFFICIENT_PERMISSIONS", "42501")
    return info.value


def test_spark_reads_need_read_volume_and_writes_write_volume(spark: Any, gov: Workspace) -> None:
    with as_principal(spark, "alice"):
        assert spark.read.json("/Volumes/main/vg/files/in").first().id == 1
        _fails(lambda: spark.range(2).write.mode("overwrite").parquet("/Volumes/main/vg/files/out"),
               _denied("WRITE VOLUME"))
    with as_principal(spark, "bob"):
        _fails(lambda: spark.read.json("/Volumes/main/vg/files/in").collect(), _denied("READ VOLUME"))
        _fails(lambda: spark.range(2).write.parquet("/Volumes/main/vg/files/bob"), _denied("READ VOLUME"))
    assert not (gov.volumes_root / "main" / "vg" / "files" / "out").exists()
    assert not (gov.volumes_root / "main" / "vg" / "files" / "bob").exists()

    spark.sql("GRANT WRITE VOLUME ON VOLUME main.vg.files TO `alice`")  # counts for the next statement
    try:
        with as_principal(spark, "alice"):
            spark.range(2).write.mode("overwrite").parquet("/Volumes/main/vg/files/out")
            assert spark.read.parquet("/Volumes/main/vg/files/out").count() == 2
    finally:
        spark.sql("REVOKE WRITE VOLUME ON VOLUME main.vg.files FROM `alice`")
    denials = [e for e in audit.read_events(gov) if e["action_name"] == "generateTemporaryVolumeCredential"
               and e["response"]["status_code"] == 403 and e["user_identity"]["email"] == "bob"]
    assert denials and denials[-1]["request_params"]["volume_full_name"] == "main.vg.files"


def test_dbutils_fs_checks_the_same_privileges(spark: Any, task: TaskContext) -> None:
    with as_principal(spark, "alice"):
        assert [f.name for f in dbutils.fs.ls("/Volumes/main/vg/files/in")] == ["a.json"]
        assert dbutils.fs.head("/Volumes/main/vg/files/in/a.json") == '{"id": 1}\n'
        error = _fails(lambda: dbutils.fs.put("/Volumes/main/vg/files/alice.txt", "x"), _denied("WRITE VOLUME"))
        assert isinstance(error, VolumePermissionError)
    with as_principal(spark, "bob"):
        _fails(lambda: dbutils.fs.ls("/Volumes/main/vg/files/in"), _denied("READ VOLUME"))
        _fails(lambda: dbutils.fs.rm("/Volumes/main/vg/files/in", recurse=True), _denied("READ VOLUME"))
    assert (task.workspace.volumes_root / "main" / "vg" / "files" / "in" / "a.json").is_file()
    assert dbutils.fs.put("/Volumes/main/vg/files/admin.txt", "the owner may", overwrite=True)


def test_create_needs_create_volume_and_drop_needs_ownership(spark: Any, gov: Workspace) -> None:
    with as_principal(spark, "bob"):
        _fails(lambda: spark.sql("CREATE VOLUME main.vg.bobs"), _denied("CREATE VOLUME", "Schema 'main.vg'"))
    spark.sql("GRANT CREATE VOLUME ON SCHEMA main.vg TO `bob`")
    try:
        with as_principal(spark, "bob"):
            spark.sql("CREATE VOLUME main.vg.bobs")
            spark.range(1).write.parquet("/Volumes/main/vg/bobs/p")  # the owner holds every privilege
        with as_principal(spark, "alice"):
            _fails(lambda: spark.sql("DROP VOLUME main.vg.bobs"), _denied("MANAGE", "Volume 'main.vg.bobs'"))
            _fails(lambda: spark.read.parquet("/Volumes/main/vg/bobs/p").count(),
                   _denied("READ VOLUME", "Volume 'main.vg.bobs'"))
        with as_principal(spark, "bob"):
            spark.sql("DROP VOLUME main.vg.bobs")
    finally:
        spark.sql("REVOKE CREATE VOLUME ON SCHEMA main.vg FROM `bob`")
