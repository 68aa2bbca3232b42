"""Name qualification for Python entry points that bypass Spark's catalog resolution.

Delta's ``DeltaTable.forName`` only asks the current catalog for 3-part names; a 1- or 2-part
name goes straight to Spark's session catalog (``spark_catalog``), where lakeloom tables do not
live. :func:`qualify_for_session` qualifies shorter names with the session's current catalog
and schema first; :mod:`lakeloom.runtime.spark_patches` applies it to ``DeltaTable.forName``.
"""
from __future__ import annotations

from typing import Any

from lakeloom.catalog.names import SESSION_CATALOG, InvalidNameError, parse_name, qualify


def qualify_for_session(spark: Any, name: str) -> str:
    """Qualify ``name`` with ``spark``'s current catalog and schema (3-part names unchanged).

    Names in Spark's own ``spark_catalog`` and names that cannot be parsed are returned as is.
    """
    try:
        if len(parse_name(name)) >= 3:
            return name
    except InvalidNameError:
        return name
    current = spark.catalog.currentCatalog()
    if current == SESSION_CATALOG:
        return name
    return qualify(name, current, spark.catalog.currentDatabase())
