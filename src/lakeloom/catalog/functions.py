"""Read the SQL functions of the catalog store from Python, without a JVM.

The JVM catalog (``jvm/rowsec/CatalogFunctions.scala``) keeps each function of a schema as
``<catalog>/<schema>/functions/<name>.json`` in Unity Catalog's ``FunctionInfo`` field names
(``input_params``, ``data_type``, ``routine_definition``, ``owner``, ...). Row filters and column
masks name these functions (``TableInfo.row_filter`` / ``TableInfo.column_masks``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.listing import list_schemas

if TYPE_CHECKING:
    from lakeloom.config import Workspace

FUNCTIONS_DIR = "functions"


@dataclass(frozen=True)
class FunctionInfo:
    """One stored SQL function (the JSON record as Unity Catalog's API returns it, in ``raw``)."""

    catalog: str
    schema: str
    name: str
    data_type: str
    routine_definition: str
    parameters: list[dict[str, Any]] = field(default_factory=list)
    comment: str | None = None
    owner: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"


def list_functions(workspace: Workspace, catalog: str | None = None, schema: str | None = None) -> list[FunctionInfo]:
    """SQL functions, optionally of one catalog and/or schema, sorted by full name."""
    out: list[FunctionInfo] = []
    for s in list_schemas(workspace, catalog):
        if schema and s.name != schema.lower():
            continue
        folder = workspace.catalog_dir / s.catalog / s.name / FUNCTIONS_DIR
        for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if f.name.startswith("."):
                continue
            try:
                data = json.loads(f.read_text())
            except FileNotFoundError:
                continue
            except json.JSONDecodeError as e:
                raise ValueError(f"{f}: corrupt catalog metadata: {e}") from e
            out.append(FunctionInfo(
                catalog=data["catalog_name"], schema=data["schema_name"], name=data["name"],
                data_type=data.get("full_data_type") or data.get("data_type", ""),
                routine_definition=data.get("routine_definition", ""),
                parameters=list((data.get("input_params") or {}).get("parameters") or []),
                comment=data.get("comment"), owner=data.get("owner"), raw=data,
            ))
    return out
