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


def with_cloud_hint(message: str) -> str:
    """``message`` plus a note naming the cloud-only piece it hit, if it hit one."""
    for pattern, hint in _HINTS:
        if pattern.search(message):
            return f"{message}\n(cloud-only: {hint})"
    return message
