"""What the catalog browser may show a principal, and the grants and policies it shows.

Grants come from the workspace's grant store (``<catalog_dir>/.governance/grants.json``, kept by
the JVM catalog and :mod:`lakeloom.catalog.grants`): ``{"grants": {"<KIND> <full name>":
{principal: [privileges]}}, "owners": {...}}``. Grants on a catalog or schema cover its children,
as in Unity Catalog. Row filters and column masks are stored in the table's catalog entry.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakeloom.server.auth import Principal

if TYPE_CHECKING:
    from lakeloom.catalog.listing import TableInfo
    from lakeloom.config import Workspace


def _grant_file(workspace: Workspace) -> dict[str, Any]:
    path = workspace.catalog_dir / ".governance" / "grants.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parents(kind: str, full_name: str) -> list[str]:
    parts = full_name.split(".")
    keys = [f"{kind} {full_name}"]
    if kind in ("TABLE", "VIEW", "VOLUME", "FUNCTION") and len(parts) == 3:
        keys += [f"SCHEMA {parts[0]}.{parts[1]}", f"CATALOG {parts[0]}"]
    elif kind == "SCHEMA" and len(parts) == 2:
        keys.append(f"CATALOG {parts[0]}")
    return keys


def grants_of(workspace: Workspace, kind: str, full_name: str) -> list[dict[str, Any]]:
    """``[{principal, privileges, inherited_from}]`` on the securable, its own grants first."""
    grants = _grant_file(workspace).get("grants") or {}
    out = []
    for key in _parents(kind, full_name):
        for principal, privileges in sorted((grants.get(key) or {}).items()):
            out.append({"principal": principal, "privileges": sorted(privileges),
                        "inherited_from": None if key == f"{kind} {full_name}" else key})
    return out


def browsable(workspace: Workspace, who: Principal, kind: str, full_name: str, owner: str | None, *,
              children: Sequence[Any] = ()) -> bool:
    """Whether ``who`` may see the object: admins always; else its owner, a holder of any privilege
    on it or on a parent, or (for a container) someone who may see one of its ``children``."""
    if who.is_admin or (owner and owner == who.name) or children:
        return True
    names = {who.name, *who.groups}
    grants = _grant_file(workspace).get("grants") or {}
    return any(names & set(grants.get(key) or {}) for key in _parents(kind, full_name))


def policies_of(table: TableInfo) -> dict[str, Any]:
    """The table's row filter and column masks, as stored with it (Unity Catalog's field names)."""
    try:
        entry = json.loads(table.path.read_text()) if table.path else {}
    except (OSError, ValueError):
        entry = {}
    masks = entry.get("column_masks") or {}
    return {"row_filter": entry.get("row_filter"),
            "column_masks": sorted(masks.items()) if isinstance(masks, dict) else []}
