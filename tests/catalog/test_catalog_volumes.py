"""Unity Catalog volume SQL on lakeloom's catalogs (CREATE/DROP/SHOW VOLUMES, CREATE CATALOG):
a volume is the folder that ``/Volumes/<catalog>/<schema>/<volume>`` maps to in the workspace."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("sql, message", [
    ("CREATE VOLUME main.no_such_schema.v", "schema 'main.no_such_schema' does not exist"),
    ("CREATE VOLUME nocat.vols.v", "catalog 'nocat' does not exist"),
    ("DROP VOLUME main.vols.missing", "volume 'main.vols.missing' does not exist"),
    ("CREATE EXTERNAL VOLUME main.vols.e", "needs a LOCATION"),
    ("CREATE CATALOG other", "add 'other' to catalog.catalogs in conf/lakeloom.yml"),
    ("CREATE CATALOG main", "catalog 'main' already exists"),
])
def test_volume_and_catalog_errors(spark, vol_schema: str, sql: str, message: str) -> None:  # noqa: ANN001
    with pytest.raises(Exception, match=message):
        spark.sql(sql).collect()
