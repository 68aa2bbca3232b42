"""Hints appended to task errors whose cause is a piece of Databricks that exists only in a
Databricks workspace, so a failing public example says what it needs instead of only
"table not found".
"""
from __future__ import annotations

import re

_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:`samples`\.`|\bsamples\.)(tpcds|bakehouse|wanderbricks|accuweather|healthverity)", re.I),
     "lakeloom's `samples` catalog has generated stand-ins for nyctaxi and tpch only; the other datasets of "
     "Databricks' sample-data catalog exist only in a Databricks workspace: load the data into a local table (or "
     "point the job at one) to run this locally"),
    (re.compile(r"dbfs:/databricks-datasets|/databricks-datasets/", re.I),
     "/databricks-datasets is Databricks' sample-data mount, which exists only in a Databricks workspace"),
    (re.compile(r"INVALID_METRIC_VIEW_YAML.*(Invalid YAML version|Unsupported version|Unrecognized field)",
                re.S),
     "metric views run on Apache Spark's own support here, which reads the YAML of version 0.1 (source, "
     "filter, dimensions and measures with name and expr); later versions of the spec (1.x, with "
     "comments, display names, formats, ...) need a Databricks Runtime"),
    (re.compile(r"UNRESOLVED_ROUTINE.*`?(ai_query|ai_parse_document|ai_extract|ai_classify|ai_gen|vector_search)`?",
                re.I | re.S),
     "Databricks AI functions run on Databricks model serving, which lakeloom does not have"),
)


_SYSTEM_TABLE = re.compile(r"TABLE_OR_VIEW_NOT_FOUND\].*?`system`\.`(\w+)`\.`(\w+)`", re.I | re.S)


def _system_table_hint(message: str) -> str | None:
    """Databricks system tables lakeloom does not serve (``system.billing.usage``,
    ``system.query.history``, ...): name them and list the ones it does."""
    from lakeloom.catalog.system_conf import SYSTEM_TABLES

    m = _SYSTEM_TABLE.search(message)
    if m is None or m.group(2).lower() in SYSTEM_TABLES.get(m.group(1).lower(), ()):
        return None
    served = ", ".join(f"system.{s}.{{{','.join(t)}}}" for s, t in sorted(SYSTEM_TABLES.items()))
    return (f"system.{m.group(1)}.{m.group(2)} is a Databricks system table that only a Databricks workspace "
            f"fills; lakeloom serves {served} from its own runs, lineage and audit log")


def with_cloud_hint(message: str) -> str:
    """``message`` plus a note naming the cloud-only piece it hit, if it hit one."""
    for pattern, hint in _HINTS:
        if pattern.search(message):
            return f"{message}\n(cloud-only: {hint})"
    system = _system_table_hint(message)
    return f"{message}\n(cloud-only: {system})" if system else message
