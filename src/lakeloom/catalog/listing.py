"""Read the catalog store from Python, without a JVM.

The JVM catalog (``jvm/LakeloomStore.scala``) keeps its metadata as JSON files under
``workspace.catalog_dir``::

    <catalog>/catalog.json
    <catalog>/<schema>/schema.json
    <catalog>/<schema>/tables/<table>.json     tables and views
    <catalog>/<schema>/volumes/<volume>.json   volumes (written by ``CREATE VOLUME``)

Files are replaced atomically, so a reader never sees a half-written one. For Delta tables the
Delta log is the source of truth for the schema; ``columns`` is the schema at creation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from lakeloom.catalog.names import DEFAULT_CATALOG, DEFAULT_SCHEMA, split_qualified

if TYPE_CHECKING:
    from lakeloom.config import Workspace

CATALOG_FILE = "catalog.json"
SCHEMA_FILE = "schema.json"
TABLES_DIR = "tables"
VOLUMES_DIR = "volumes"


@dataclass(frozen=True)
class SchemaInfo:
    """One schema of a catalog."""

    catalog: str
    name: str
    comment: str | None = None
    owner: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    created_at: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.name}"


@dataclass(frozen=True)
class TableInfo:
    """One table or view, as recorded in the store (field names follow Unity Catalog's)."""

    catalog: str
    schema: str
    name: str
    table_type: str
    """``MANAGED``, ``EXTERNAL`` or ``VIEW``."""
    data_source_format: str | None = None
    storage_location: str | None = None
    columns: list[dict[str, Any]] = field(default_factory=list)
    partition_columns: list[str] = field(default_factory=list)
    comment: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    table_id: str | None = None
    view_definition: str | None = None
    path: Path | None = None
    """The metadata file this entry was read from."""
    row_filter: dict[str, Any] | None = None
    """``{"function_name", "input_column_names", "arguments"}`` when the table has a row filter."""
    column_masks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Column name -> ``{"function_name", "using_column_names", "arguments"}``."""

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"

    @property
    def is_view(self) -> bool:
        return self.table_type == "VIEW"

    @property
    def local_path(self) -> Path | None:
        """``storage_location`` as a local path (``None`` for views and non-``file:`` storage)."""
        if not self.storage_location:
            return None
        url = urlparse(self.storage_location)
        return Path(unquote(url.path)) if url.scheme in ("", "file") else None


@dataclass(frozen=True)
class VolumeInfo:
    """One volume, as recorded in the store (Unity Catalog's ``VolumeInfo`` field names)."""

    catalog: str
    schema: str
    name: str
    volume_type: str
    """``MANAGED`` or ``EXTERNAL``."""
    storage_location: str | None = None
    comment: str | None = None
    owner: str | None = None
    created_by: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    volume_id: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"

    @property
    def path(self) -> str:
        """The volume's Databricks path, ``/Volumes/<catalog>/<schema>/<name>``."""
        return f"/Volumes/{self.catalog}/{self.schema}/{self.name}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt catalog metadata: {e}") from e
    return data if isinstance(data, dict) else None


def _table_info(path: Path, data: dict[str, Any]) -> TableInfo:
    columns = (data.get("columns") or {}).get("fields") or []
    view = data.get("view") or {}
    return TableInfo(
        catalog=data["catalog_name"],
        schema=data["schema_name"],
        name=data["name"],
        table_type=data.get("table_type", "EXTERNAL"),
        data_source_format=data.get("data_source_format"),
        storage_location=data.get("storage_location"),
        columns=list(columns),
        partition_columns=list(data.get("partition_columns") or []),
        comment=data.get("comment"),
        properties=dict(data.get("properties") or {}),
        owner=data.get("owner"),
        created_at=data.get("created_at"),
        updated_at=data.get("updated_at"),
        table_id=data.get("table_id"),
        view_definition=view.get("query_text"),
        path=path,
        row_filter=data.get("row_filter"),
        column_masks=dict(data.get("column_masks") or {}),
    )


def list_catalogs(workspace: Workspace) -> list[str]:
    """Catalogs present in the store (a catalog appears once a Spark session has used it)."""
    root = workspace.catalog_dir
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / CATALOG_FILE).is_file())


def list_schemas(workspace: Workspace, catalog: str | None = None) -> list[SchemaInfo]:
    """Schemas of ``catalog`` (default: every catalog), sorted by full name."""
    out: list[SchemaInfo] = []
    for cat in [catalog.lower()] if catalog else list_catalogs(workspace):
        cat_dir = workspace.catalog_dir / cat
        if not cat_dir.is_dir():
            continue
        for d in sorted(cat_dir.iterdir()):
            data = _read_json(d / SCHEMA_FILE) if d.is_dir() else None
            if data is not None:
                out.append(SchemaInfo(
                    catalog=cat, name=data.get("name", d.name), comment=data.get("comment"),
                    owner=data.get("owner"), properties=dict(data.get("properties") or {}),
                    created_at=data.get("created_at"),
                ))
    return out


def list_tables(workspace: Workspace, catalog: str | None = None, schema: str | None = None) -> list[TableInfo]:
    """Tables and views, optionally limited to one catalog and/or schema, sorted by full name."""
    out: list[TableInfo] = []
    for s in list_schemas(workspace, catalog):
        if schema and s.name != schema.lower():
            continue
        tables_dir = workspace.catalog_dir / s.catalog / s.name / TABLES_DIR
        if not tables_dir.is_dir():
            continue
        for f in sorted(tables_dir.glob("*.json")):
            if f.name.startswith("."):
                continue
            data = _read_json(f)
            if data is not None:
                out.append(_table_info(f, data))
    return out


def get_table(
    workspace: Workspace, name: str, current_catalog: str = DEFAULT_CATALOG, current_schema: str = DEFAULT_SCHEMA
) -> TableInfo | None:
    """The store entry for a 1-, 2- or 3-part table or view name, or ``None``."""
    cat, sch, tbl = split_qualified(name, current_catalog, current_schema)
    path = workspace.catalog_dir / cat / sch / TABLES_DIR / f"{tbl}.json"
    data = _read_json(path)
    return _table_info(path, data) if data is not None else None


def _volume_info(data: dict[str, Any]) -> VolumeInfo:
    return VolumeInfo(
        catalog=data["catalog_name"], schema=data["schema_name"], name=data["name"],
        volume_type=data.get("volume_type", "MANAGED"), storage_location=data.get("storage_location"),
        comment=data.get("comment"), owner=data.get("owner"), created_by=data.get("created_by"),
        created_at=data.get("created_at"), updated_at=data.get("updated_at"), volume_id=data.get("volume_id"),
    )


def volume_record_path(workspace: Workspace, catalog: str, schema: str, volume: str) -> Path:
    """Where the record of volume ``catalog.schema.volume`` lives (whether or not it exists)."""
    return workspace.catalog_dir / catalog.lower() / schema.lower() / VOLUMES_DIR / f"{volume.lower()}.json"


def list_volumes(workspace: Workspace, catalog: str | None = None, schema: str | None = None) -> list[VolumeInfo]:
    """Volumes, optionally limited to one catalog and/or schema, sorted by full name."""
    out: list[VolumeInfo] = []
    for s in list_schemas(workspace, catalog):
        if schema and s.name != schema.lower():
            continue
        for f in sorted((workspace.catalog_dir / s.catalog / s.name / VOLUMES_DIR).glob("*.json")):
            data = None if f.name.startswith(".") else _read_json(f)
            if data is not None:
                out.append(_volume_info(data))
    return out


def get_volume(workspace: Workspace, catalog: str, schema: str, volume: str) -> VolumeInfo | None:
    """The record of volume ``catalog.schema.volume``, or ``None`` when it does not exist."""
    data = _read_json(volume_record_path(workspace, catalog, schema, volume))
    return _volume_info(data) if data is not None else None
