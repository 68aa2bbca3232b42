"""Spark settings that register lakeloom's catalogs, and the ``lakeloom setup`` step.

Every catalog in ``workspace.catalogs`` becomes a Spark catalog plugin
(``spark.sql.catalog.<name>``) backed by the same store folder (``workspace.catalog_dir``), so
``main.sales.orders`` resolves the same way from every process that uses the workspace.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lakeloom.catalog.build import build_catalog_jar, build_fs_jar, catalog_jar_path, fs_jar_path
from lakeloom.catalog.names import validate_catalog_name
from lakeloom.catalog.samples_conf import samples_spark_conf
from lakeloom.catalog.system_conf import system_spark_conf

if TYPE_CHECKING:
    from lakeloom.config import Workspace

CATALOG_PLUGIN_CLASS = "io.lakeloom.catalog.LakeloomCatalog"
CATALOG_EXTENSION_CLASS = "io.lakeloom.catalog.LakeloomSparkExtensions"
STORE_CLASS = "io.unitycatalog.lakeloom.LakeloomStore"
DELTA_SQL_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG_CLASS = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
LOCAL_FS_CLASS = "io.lakeloom.fs.LakeloomLocalFileSystem"
DBFS_FS_CLASS = "io.lakeloom.fs.DbfsFileSystem"

LIST_CONF_KEYS = {"spark.jars": ",", "spark.sql.extensions": ",", "spark.driver.extraClassPath": ":",
                  "spark.extraListeners": ",", "spark.executor.extraClassPath": ":"}
"""List settings (with their separators) that several sources contribute to: merge them, don't overwrite."""


def catalog_names(workspace: Workspace) -> list[str]:
    """The workspace's catalogs, validated (errors name the config field)."""
    names = [validate_catalog_name(n, source="catalog.catalogs") for n in workspace.catalogs]
    validate_catalog_name(workspace.default_catalog, source="catalog.default_catalog")
    return names


def catalog_spark_conf(workspace: Workspace, *, build: bool = True) -> dict[str, str]:
    """Every Spark setting lakeloom's catalogs need, for ``SparkSession.builder`` or spark-submit.

    Includes the catalog jar in ``spark.jars`` (compiled on first use when ``build`` is true),
    the Delta and lakeloom SQL extensions, ``spark_catalog`` as Delta's catalog,
    ``spark.sql.defaultCatalog``, one ``spark.sql.catalog.<name>`` block per catalog, and the
    lineage listener and ``system`` catalog (:mod:`lakeloom.catalog.system_conf`) and the read-only
    ``samples`` catalog (:mod:`lakeloom.catalog.samples_conf`). The Delta and
    JDBC jars themselves are not included (see ``lakeloom.runtime.delta_jars``).
    """
    jar = build_catalog_jar() if build else catalog_jar_path()
    store = workspace.catalog_dir.resolve()
    warehouse = workspace.warehouse_uri
    conf = {
        "spark.jars": str(jar),
        "spark.sql.extensions": f"{DELTA_SQL_EXTENSION},{CATALOG_EXTENSION_CLASS}",
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG_CLASS,
        "spark.sql.defaultCatalog": workspace.default_catalog,
        # Where grants, identity settings and the audit log live (see lakeloom.catalog.grants).
        "spark.lakeloom.governance.dir": str(store),
    }
    for name in catalog_names(workspace):
        prefix = f"spark.sql.catalog.{name}"
        conf[prefix] = CATALOG_PLUGIN_CLASS
        conf[f"{prefix}.store"] = str(store)
        conf[f"{prefix}.warehouse"] = warehouse
        conf[f"{prefix}.default-schema"] = (
            workspace.default_schema.lower() if name == workspace.default_catalog else "default"
        )
    return merge_conf(conf, system_spark_conf(workspace), samples_spark_conf(workspace))


def path_mapping_conf(workspace: Workspace, *, build: bool = True) -> dict[str, str]:
    """Settings that make Spark resolve Databricks paths: ``/Volumes/<catalog>/<schema>/<volume>/...``
    and ``dbfs:/...`` become files under the workspace's volumes and DBFS roots, the folders
    ``dbutils.fs`` uses; a ``/Volumes`` path needs its volume's record in the catalog store
    (``UC_VOLUME_NOT_FOUND`` otherwise). The file systems' jar goes on the driver's class path (Hadoop loads
    ``fs.file.impl`` before ``spark.jars`` are added), so this suits drivers that run the local
    master; a cluster keeps its own file systems."""
    jar = build_fs_jar() if build else fs_jar_path()
    return {
        "spark.driver.extraClassPath": str(jar),
        "spark.hadoop.fs.file.impl": LOCAL_FS_CLASS,
        "spark.hadoop.fs.dbfs.impl": DBFS_FS_CLASS,
        "spark.hadoop.fs.AbstractFileSystem.file.impl": "io.lakeloom.fs.LakeloomLocalFs",
        "spark.hadoop.fs.AbstractFileSystem.dbfs.impl": "io.lakeloom.fs.DbfsFs",
        "spark.hadoop.fs.lakeloom.volumes.root": str(workspace.volumes_root.resolve()),
        "spark.hadoop.fs.lakeloom.dbfs.root": str(workspace.dbfs_root.resolve()),
        "spark.hadoop.fs.lakeloom.catalog.store": str(workspace.catalog_dir.resolve()),
    }


def merge_conf(*sources: dict[str, str]) -> dict[str, str]:
    """Merge Spark settings left to right; later values win except for list settings
    (``spark.jars``, ``spark.sql.extensions``, ``spark.driver.extraClassPath``), whose entries
    are unioned in order."""
    out: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            sep = LIST_CONF_KEYS.get(key)
            if sep and out.get(key):
                items = [i.strip() for i in out[key].split(sep) if i.strip()]
                items += [i.strip() for i in str(value).split(sep) if i.strip() and i.strip() not in items]
                out[key] = sep.join(items)
            else:
                out[key] = str(value)
    return out
