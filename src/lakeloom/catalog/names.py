"""Three-level table names: ``catalog.schema.table``, as in Unity Catalog.

Names are case-insensitive: the catalog store keeps every part lower-cased, so
:func:`parse_name` lower-cases too. Backticks quote a part that holds dots, spaces or other
characters (`` `my table` ``); a doubled backtick inside quotes is a literal backtick.
"""
from __future__ import annotations

import re

DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "default"
SESSION_CATALOG = "spark_catalog"
"""Spark's built-in catalog; names in it are not managed by lakeloom."""

_PLAIN_PART = re.compile(r"^[a-z0-9_]+$")
_CATALOG_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class InvalidNameError(ValueError):
    """A table name cannot be parsed, or has too many parts."""


def parse_name(name: str) -> tuple[str, ...]:
    """Split a dotted name into lower-cased parts, honouring backtick quoting.

    ``parse_name("Main.`Sales Data`.orders") == ("main", "sales data", "orders")``.
    """
    parts: list[str] = []
    buf: list[str] = []
    i, n = 0, len(name)
    quoted_part = False
    while i < n:
        ch = name[i]
        if ch == "`":
            end = i + 1
            while True:
                end = name.find("`", end)
                if end == -1:
                    raise InvalidNameError(f"unbalanced backtick in name {name!r}")
                if end + 1 < n and name[end + 1] == "`":
                    end += 2
                    continue
                break
            buf.append(name[i + 1 : end].replace("``", "`"))
            quoted_part = True
            i = end + 1
        elif ch == ".":
            parts.append(_finish_part(name, buf, quoted_part))
            buf, quoted_part = [], False
            i += 1
        else:
            buf.append(ch)
            i += 1
    parts.append(_finish_part(name, buf, quoted_part))
    return tuple(parts)


def _finish_part(name: str, buf: list[str], quoted: bool) -> str:
    part = "".join(buf)
    if not quoted:
        part = part.strip()
    if not part:
        raise InvalidNameError(f"empty part in name {name!r}")
    return part.lower()


def quote_part(part: str) -> str:
    """Backtick-quote ``part`` if Spark's parser would not take it bare."""
    if _PLAIN_PART.match(part) and not part.isdigit():
        return part
    return "`" + part.replace("`", "``") + "`"


def format_name(parts: tuple[str, ...] | list[str]) -> str:
    """Join name parts into a dotted name, quoting where needed."""
    return ".".join(quote_part(p) for p in parts)


def split_qualified(
    name: str, current_catalog: str = DEFAULT_CATALOG, current_schema: str = DEFAULT_SCHEMA
) -> tuple[str, str, str]:
    """Resolve a 1-, 2- or 3-part name against the current catalog and schema.

    Returns ``(catalog, schema, table)``, all lower-cased.
    """
    parts = parse_name(name)
    if len(parts) == 1:
        return current_catalog.lower(), current_schema.lower(), parts[0]
    if len(parts) == 2:
        return current_catalog.lower(), parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise InvalidNameError(
        f"{name!r} has {len(parts)} parts; table names are table, schema.table or catalog.schema.table"
    )


def qualify(name: str, current_catalog: str = DEFAULT_CATALOG, current_schema: str = DEFAULT_SCHEMA) -> str:
    """The fully qualified ``catalog.schema.table`` form of ``name`` (quoted where needed).

    ``qualify("orders", "main", "sales") == "main.sales.orders"``.
    """
    return format_name(split_qualified(name, current_catalog, current_schema))


def validate_catalog_name(name: str, *, source: str = "catalog.catalogs") -> str:
    """Check that ``name`` can be a lakeloom catalog name (a Spark catalog-plugin name).

    Spark looks catalogs up by their exact ``spark.sql.catalog.<name>`` key, so lakeloom only
    accepts lower-case identifiers. ``source`` names the config field in the error.
    """
    if not isinstance(name, str) or not _CATALOG_NAME.match(name) or name == SESSION_CATALOG:
        raise InvalidNameError(
            f"{source}: invalid catalog name {name!r} (use lower-case letters, digits and _, "
            f"not starting with a digit, and not {SESSION_CATALOG!r})"
        )
    return name
