"""Spark settings that register lakeloom's catalogs, and the ``lakeloom setup`` step.

Every catalog in ``workspace.catalogs`` becomes a Spark catalog plugin
(``spark.sql.catalog.<name>``) backed by the same store folder (``workspace.catalog_dir``), so
``main.sales.orders`` resolves the same way from every process that uses the workspace.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom.catalog.build import build_catalog_jar, catalog_jar_path
from lakeloom.catalog.names import validate_catalog_name

if TYPE_CHECKING:
    from lakeloom.config import Workspace

CATALOG_PLUGIN_CLASS = "io.lakeloom.catalog.LakeloomCatalog"
CATALOG_EXTENSION_CLASS = "io.lakeloom.catalog.LakeloomSparkExtensions"
STORE_CLASS = "io.unitycatalog.lakeloom.LakeloomStore"
DELTA_SQL_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG_CLASS = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

LIST_CONF_KEYS = frozenset({"spark.jars", "spark.sql.extensions"})
"""Comma-separated settings that several sources contribute to: merge them, don't overwrite."""


def catalog_names(workspace: Workspace) -> list[str]:
    """The workspace's catalogs, validated (errors name the config field)."""
    names = [validate_catalog_name(n, source="catalog.catalogs") for n in workspace.catalogs]
    validate_catalog_name(workspace.default_catalog, source="catalog.default_catalog")
    return names


def catalog_spark_conf(workspace: Workspace, *, build: bool = True) -> dict[str, str]:
    """Every Spark setting lakeloom's catalogs need, for ``SparkSession.builder`` or spark-submit.

    Includes the catalog jar in ``spark.jars`` (compiled on first use when ``build`` is true),
    the Delta and lakeloom SQL extensions, ``spark_catalog`` as Delta's catalog,
    ``spark.sql.defaultCatalog`` and one ``spark.sql.catalog.<name>`` block per catalog. The
    Delta jars themselves are not included (see ``lakeloom.runtime.delta_jars``).
    """
    jar = build_catalog_jar() if build else catalog_jar_path()
    store = workspace.catalog_dir.resolve()
    warehouse = workspace.warehouse_dir.resolve().as_uri()
    conf = {
        "spark.jars": str(jar),
        "spark.sql.extensions": f"{DELTA_SQL_EXTENSION},{CATALOG_EXTENSION_CLASS}",
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG_CLASS,
        "spark.sql.defaultCatalog": workspace.default_catalog,
    }
    for name in catalog_names(workspace):
        prefix = f"spark.sql.catalog.{name}"
        conf[prefix] = CATALOG_PLUGIN_CLASS
        conf[f"{prefix}.store"] = str(store)
        conf[f"{prefix}.warehouse"] = warehouse
        conf[f"{prefix}.default-schema"] = (
            workspace.default_schema.lower() if name == workspace.default_catalog else "default"
        )
    return conf


def merge_conf(*sources: dict[str, str]) -> dict[str, str]:
    """Merge Spark settings left to right; later values win except for list settings
    (``spark.jars``, ``spark.sql.extensions``), whose entries are unioned in order."""
    out: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            if key in LIST_CONF_KEYS and out.get(key):
                items = [i.strip() for i in out[key].split(",") if i.strip()]
                items += [i.strip() for i in str(value).split(",") if i.strip() and i.strip() not in items]
                out[key] = ",".join(items)
            else:
                out[key] = str(value)
    return out


def prepare(workspace: Workspace) -> list[Path]:
    """The ``lakeloom setup`` step: fetch the Delta jars, build the catalog jar, create the
    store and warehouse folders. Idempotent and cheap when everything is already there.

    Returns the jars a Spark session needs (Delta jars, then the catalog jar).
    """
    # Imported here: the Delta jars are a runtime concern, and this keeps `lakeloom.catalog`
    # importable without touching the runtime package.
    from lakeloom.runtime.delta_jars import ensure_delta_jars

    catalog_names(workspace)
    jars = ensure_delta_jars()
    jars.append(build_catalog_jar())
    workspace.catalog_dir.mkdir(parents=True, exist_ok=True)
    workspace.warehouse_dir.mkdir(parents=True, exist_ok=True)
    return jars
