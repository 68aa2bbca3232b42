"""Databricks Asset Bundle resource references: ``${resources.jobs.<key>.id}`` and
``${resources.pipelines.<key>.id}``, the way one bundle resource names another.

A bundle deploys its jobs and pipelines first and substitutes their ids; lakeloom resolves
the same reference to the resource's key, which its job and pipeline lookups understand.
"""
from __future__ import annotations

import re

_REF = re.compile(r"^\$\{resources\.(jobs|pipelines)\.([A-Za-z0-9_\-]+)\.id\}$")


def bundle_resource_key(value: object, kind: str) -> str | None:
    """The resource key ``value`` refers to when it is ``${resources.<kind>.<key>.id}``
    (``kind`` is ``jobs`` or ``pipelines``), else None."""
    if not isinstance(value, str):
        return None
    m = _REF.match(value.strip())
    return m.group(2) if m and m.group(1) == kind else None
