"""Python-side fixes for entry points that bypass Spark's catalog resolution.

Delta's ``DeltaTable.forName`` only asks the current catalog for 3-part names; a 1- or 2-part
name goes straight to Spark's session catalog (``spark_catalog``), where lakeloom tables do not
live. :func:`install_python_shims` makes it qualify shorter names with the session's current
catalog and schema first, so ``DeltaTable.forName(spark, "sales.orders")`` works after
``USE CATALOG main`` just as it does on Databricks.
"""
from __future__ import annotations

from typing import Any

from lakeloom.catalog.names import SESSION_CATALOG, InvalidNameError, parse_name, qualify

_MARK = "_lakeloom_qualifies_names"


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


def install_python_shims() -> None:
    """Patch ``delta.tables.DeltaTable.forName`` to resolve names like SQL does. Idempotent."""
    try:
        from delta.tables import DeltaTable
    except ImportError:  # delta-spark's Python package is optional for the catalog itself
        return
    if getattr(DeltaTable.forName, _MARK, False):
        return
    original = DeltaTable.forName.__func__  # type: ignore[attr-defined]

    def forName(cls: Any, sparkSession: Any, tableOrViewName: str) -> Any:  # noqa: N802 (Delta's name)
        return original(cls, sparkSession, qualify_for_session(sparkSession, tableOrViewName))

    forName.__doc__ = original.__doc__
    setattr(forName, _MARK, True)
    DeltaTable.forName = classmethod(forName)  # type: ignore[method-assign]
