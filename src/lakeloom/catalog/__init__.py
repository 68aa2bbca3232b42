"""lakeloom.catalog: Unity-Catalog-style ``catalog.schema.table`` names for Spark + Delta.

A JVM catalog plugin (``jvm/*.scala``, compiled on first use) stores schemas, tables and views
as JSON files under ``workspace.catalog_dir``, so every process using a workspace sees the same
names. Managed tables are Delta tables under ``workspace.warehouse_dir/<catalog>/<schema>/``.
All name resolution goes through this package; grants, lineage and audit hook in here too.
Importing it is cheap: no pyspark, no JVM.
"""
from __future__ import annotations

from lakeloom.catalog.build import CatalogBuildError, build_catalog_jar, catalog_jar_path
from lakeloom.catalog.conf import (
    CATALOG_EXTENSION_CLASS,
    CATALOG_PLUGIN_CLASS,
    catalog_names,
    catalog_spark_conf,
    merge_conf,
    path_mapping_conf,
)
from lakeloom.catalog.listing import (
    SchemaInfo,
    TableInfo,
    VolumeInfo,
    get_table,
    get_volume,
    list_catalogs,
    list_schemas,
    list_tables,
    list_volumes,
)
from lakeloom.catalog.names import (
    DEFAULT_CATALOG,
    DEFAULT_SCHEMA,
    SESSION_CATALOG,
    InvalidNameError,
    format_name,
    parse_name,
    qualify,
    quote_part,
    split_qualified,
)
from lakeloom.catalog.shims import qualify_for_session

__all__ = [
    "CATALOG_EXTENSION_CLASS",
    "CATALOG_PLUGIN_CLASS",
    "DEFAULT_CATALOG",
    "DEFAULT_SCHEMA",
    "SESSION_CATALOG",
    "CatalogBuildError",
    "InvalidNameError",
    "SchemaInfo",
    "TableInfo",
    "VolumeInfo",
    "build_catalog_jar",
    "catalog_jar_path",
    "catalog_names",
    "catalog_spark_conf",
    "format_name",
    "get_table",
    "get_volume",
    "list_catalogs",
    "list_schemas",
    "list_tables",
    "list_volumes",
    "merge_conf",
    "path_mapping_conf",
    "parse_name",
    "qualify",
    "qualify_for_session",
    "quote_part",
    "split_qualified",
]
