"""Unity Catalog volume SQL on lakeloom's catalogs (CREATE/DROP/SHOW VOLUMES, CREATE CATALOG):
a volume is a record in the catalog store and the folder ``/Volumes/<catalog>/<schema>/<volume>``
maps to in the workspace."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeloom.catalog import get_volume, list_volumes
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


@pytest.fixture
def vol_schema(spark) -> Iterator[str]:  # noqa: ANN001
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.vols")
    yield "main.vols"
    spark.sql("SET CATALOG main")
    spark.sql("USE SCHEMA default")
    spark.sql("DROP SCHEMA main.vols CASCADE")


def _names(spark, sql: str) -> list[str]:  # noqa: ANN001
    return [r.volume_name for r in spark.sql(sql).collect()]


def test_managed_volume_lifecycle(spark, spark_workspace: Workspace, vol_schema: str) -> None:  # noqa: ANN001
    spark.sql("CREATE CATALOG IF NOT EXISTS main")  # a configured catalog: nothing to do
    spark.sql("CREATE VOLUME IF NOT EXISTS main.vols.landing COMMENT 'raw files'")
    spark.sql("CREATE VOLUME IF NOT EXISTS main.vols.landing")  # idempotent
    spark.sql("USE SCHEMA vols")
    spark.sql("CREATE VOLUME staging")  # completed from the current catalog and schema
    volume = get_volume(spark_workspace, "main", "vols", "landing")
    assert volume is not None and (volume.volume_type, volume.comment) == ("MANAGED", "raw files")
    assert volume.owner and volume.path == "/Volumes/main/vols/landing"
    assert [v.name for v in list_volumes(spark_workspace, "main", "vols")] == ["landing", "staging"]
    folder = spark_workspace.volumes_root / "main" / "vols" / "landing"
    assert folder.is_dir() and (spark_workspace.volumes_root / "main" / "vols" / "staging").is_dir()
    assert _names(spark, "SHOW VOLUMES IN main.vols") == ["landing", "staging"]
    assert _names(spark, "SHOW VOLUMES") == ["landing", "staging"]

    (folder / "a.json").write_text('{"x": 1}\n')
    assert spark.read.json("/Volumes/main/vols/landing").first().x == 1
    spark.sql("DROP VOLUME main.vols.landing")
    assert not folder.exists()  # a managed volume takes its files with it
    spark.sql("DROP VOLUME IF EXISTS main.vols.landing")
    assert _names(spark, "SHOW VOLUMES IN main.vols") == ["staging"]


def test_external_volume_links_its_location(spark, spark_workspace: Workspace, vol_schema: str,  # noqa: ANN001
                                            tmp_path: Path) -> None:
    location = tmp_path / "external"
    spark.sql(f"CREATE EXTERNAL VOLUME main.vols.ext LOCATION '{location}'")
    (location / "b.json").write_text('{"x": 2}\n')
    assert spark.read.json("/Volumes/main/vols/ext").first().x == 2
    spark.sql("DROP VOLUME main.vols.ext")
    assert (location / "b.json").is_file()  # dropping an external volume keeps the files
    assert not (spark_workspace.volumes_root / "main" / "vols" / "ext").exists()


def test_drop_schema_with_volumes_needs_cascade(spark, spark_workspace: Workspace) -> None:  # noqa: ANN001
    spark.sql("CREATE SCHEMA main.vols_drop")
    spark.sql("CREATE VOLUME main.vols_drop.files")
    with pytest.raises(Exception, match="SCHEMA_NOT_EMPTY"):
        spark.sql("DROP SCHEMA main.vols_drop")
    spark.sql("DROP SCHEMA main.vols_drop CASCADE")
    assert get_volume(spark_workspace, "main", "vols_drop", "files") is None
    assert not (spark_workspace.volumes_root / "main" / "vols_drop" / "files").exists()


@pytest.mark.parametrize("sql, message", [
    ("CREATE VOLUME main.no_such_schema.v", "schema 'main.no_such_schema' does not exist"),
    ("CREATE VOLUME nocat.vols.v", "catalog 'nocat' does not exist"),
    ("DROP VOLUME main.vols.missing", r"\[UC_VOLUME_NOT_FOUND\] Volume `main`.`vols`.`missing` does not exist"),
    ("CREATE VOLUME main.vols.twice", r"\[VOLUME_ALREADY_EXISTS\] Cannot create volume `main`.`vols`.`twice`"),
    ("CREATE EXTERNAL VOLUME main.vols.e", "needs a LOCATION"),
    ("CREATE CATALOG other", "add 'other' to catalog.catalogs in conf/lakeloom.yml"),
    ("CREATE CATALOG main", "catalog 'main' already exists"),
])
def test_volume_and_catalog_errors(spark, vol_schema: str, sql: str, message: str) -> None:  # noqa: ANN001
    spark.sql("CREATE VOLUME IF NOT EXISTS main.vols.twice")
    with pytest.raises(Exception, match=message):
        spark.sql(sql).collect()
