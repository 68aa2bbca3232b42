"""Unity Catalog's JSON shapes (``CatalogInfo``, ``SchemaInfo``, ``TableInfo``, ``ColumnInfo``)
of lakeloom's catalog metadata, as the REST API returns them."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakeloom.catalog.listing import SchemaInfo, TableInfo
    from lakeloom.config import Workspace

_TYPE_NAMES = {"long": "LONG", "integer": "INT", "short": "SHORT", "byte": "BYTE", "string": "STRING",
               "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP",
               "timestamp_ntz": "TIMESTAMP_NTZ", "binary": "BINARY", "void": "NULL", "variant": "VARIANT"}
_TEXT = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}


def _metastore_id(workspace: Workspace) -> str:
    return f"lakeloom-{workspace.workspace_id}"


def catalog_info(workspace: Workspace, name: str, owner: str | None) -> dict[str, Any]:
    path = workspace.catalog_dir / name / "catalog.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        meta = {}
    return {"name": name, "full_name": name, "owner": owner, "comment": meta.get("comment"),
            "catalog_type": "MANAGED_CATALOG", "created_at": meta.get("created_at"),
            "metastore_id": _metastore_id(workspace), "properties": meta.get("properties") or {},
            "isolation_mode": "OPEN", "securable_type": "CATALOG"}


def schema_info(s: SchemaInfo, workspace: Workspace) -> dict[str, Any]:
    return {"name": s.name, "catalog_name": s.catalog, "full_name": s.full_name, "owner": s.owner,
            "comment": s.comment, "created_at": s.created_at, "properties": s.properties,
            "metastore_id": _metastore_id(workspace), "catalog_type": "MANAGED_CATALOG"}


def _type(dtype: Any) -> tuple[str, str]:
    """``(type_name, type_text)`` of a Spark JSON data type."""
    if isinstance(dtype, str):
        if dtype.startswith("decimal"):
            return "DECIMAL", dtype
        return _TYPE_NAMES.get(dtype, dtype.upper()), _TEXT.get(dtype, dtype)
    kind = dtype.get("type") if isinstance(dtype, dict) else None
    return {"struct": ("STRUCT", "struct"), "array": ("ARRAY", "array"), "map": ("MAP", "map")}.get(
        kind or "", ("STRING", "string"))


def column_infos(columns: list[dict[str, Any]], table: TableInfo) -> list[dict[str, Any]]:
    """``ColumnInfo`` of Spark struct fields, with each column's mask (if one is set)."""
    masks = _policies(table).get("column_masks") or {}
    out = []
    for i, c in enumerate(columns):
        name, text = _type(c.get("type"))
        info = {"name": c.get("name"), "type_name": name, "type_text": text, "type_json": json.dumps(c),
                "position": i, "nullable": bool(c.get("nullable", True)),
                "comment": (c.get("metadata") or {}).get("comment")}
        if c.get("name") in masks:
            m = masks[c["name"]]
            info["mask"] = {"function_name": m.get("function_name"), "using_column_names": m.get("using_column_names") or []}
        out.append(info)
    return out


def _policies(table: TableInfo) -> dict[str, Any]:
    try:
        return json.loads(table.path.read_text()) if table.path else {}
    except (OSError, ValueError):
        return {}


def table_info(t: TableInfo, columns: list[dict[str, Any]]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": t.name, "catalog_name": t.catalog, "schema_name": t.schema, "full_name": t.full_name,
        "table_type": t.table_type, "data_source_format": t.data_source_format,
        "storage_location": t.storage_location, "columns": columns, "owner": t.owner, "comment": t.comment,
        "created_at": t.created_at, "updated_at": t.updated_at, "table_id": t.table_id,
        "properties": t.properties, "securable_type": "TABLE",
    }
    if t.view_definition:
        info["view_definition"] = t.view_definition
    row_filter = _policies(t).get("row_filter")
    if row_filter:
        info["row_filter"] = {"function_name": row_filter.get("function_name"),
                              "input_column_names": row_filter.get("input_column_names") or []}
    return info
