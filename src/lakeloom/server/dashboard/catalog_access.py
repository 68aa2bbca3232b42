"""What the catalog browser may show a principal, and the grants and policies it shows.

Grants and ownership come from :mod:`lakeloom.catalog.grants` (the store Spark enforces): a
principal sees what it owns or holds a privilege on, directly, through a group or inherited
from a catalog or schema (admins see everything), and a container when it may see one of its
children. Row filters and column masks are stored in the table's catalog entry.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.grants import GrantError, GrantStore, Securable
from lakeloom.server.auth import Principal

if TYPE_CHECKING:
    from lakeloom.catalog.listing import TableInfo
    from lakeloom.config import Workspace


def grants_of(workspace: Workspace, kind: str, full_name: str) -> list[dict[str, Any]]:
    """``[{principal, privileges, inherited_from}]`` on the securable, its own grants first
    (the owner is shown separately)."""
    out: dict[tuple[str, str | None], list[str]] = {}
    for row in GrantStore(workspace).show(Securable.of(kind, full_name)):
        if row["action_type"] == "OWN":
            continue
        own = row["object_type"] == kind and row["object_key"] == full_name
        key = (row["principal"], None if own else f"{row['object_type']} {row['object_key']}")
        out.setdefault(key, []).append(row["action_type"])
    return [{"principal": p, "privileges": sorted(privs), "inherited_from": src} for (p, src), privs in out.items()]


def browsable(workspace: Workspace, who: Principal, kind: str, full_name: str, owner: str | None, *,
              children: Sequence[Any] = ()) -> bool:
    """Whether ``who`` may see the object (``owner`` short-cuts the lookup; ``children`` it may
    see make a container visible)."""
    if who.is_admin or (owner and owner == who.name) or children:
        return True
    try:
        return bool(GrantStore(workspace).effective_privileges(who.name, Securable.of(kind, full_name)))
    except GrantError:
        return False


def policies_of(table: TableInfo) -> dict[str, Any]:
    """The table's row filter and column masks, as stored with it (Unity Catalog's field names)."""
    try:
        entry = json.loads(table.path.read_text()) if table.path else {}
    except (OSError, ValueError):
        entry = {}
    masks = entry.get("column_masks") or {}
    return {"row_filter": entry.get("row_filter"),
            "column_masks": sorted(masks.items()) if isinstance(masks, dict) else []}
