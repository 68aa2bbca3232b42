"""Spark settings for the read-only ``samples`` catalog: Databricks' sample datasets, here.

Every Databricks workspace has a ``samples`` catalog that every user can read, and Databricks'
own bundle templates read ``samples.nyctaxi.trips``. The real data is not reachable from a
laptop or CI, so lakeloom serves generated stand-ins (``jvm/samples/``), deterministic, the same
rows on every machine: ``nyctaxi.trips`` with the real schema and row count, and the eight
``tpch`` tables with TPC-H's columns at scale factor 0.01 (Databricks' copy is far larger).

A table is materialized as a Delta table the first time a session loads it (a few seconds,
once), under the per-user cache next to the catalog jar, ``~/.cache/lakeloom/samples/<version>/``
(``$LAKELOOM_CACHE_DIR`` or ``$XDG_CACHE_HOME`` move it): the data is the same for every workspace,
so one copy serves them all. A workspace whose ``storage.root`` is a ``file:`` mount (a cluster's
shared storage) keeps them in ``<storage.root>/samples/`` instead, where every executor sees them.
Threads queue on a monitor and processes on a file lock; a table folder only ever appears
complete. Nothing is read or written at session start.

The catalog is read-only for everyone and readable by everyone: reading needs no grant, and any
change (INSERT, UPDATE, DELETE, MERGE, CREATE, DROP, ALTER, OPTIMIZE, VACUUM, RESTORE, GRANT, a write by
path into the cache folder) fails with ``UC_COMMAND_NOT_SUPPORTED.WITHOUT_RECOMMENDATION``.
A workspace that lists its own catalog named ``samples`` under ``catalog.catalogs`` keeps it.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from lakeloom.catalog.build import cache_dir

if TYPE_CHECKING:
    from lakeloom.config import Workspace

SAMPLES_CATALOG = "samples"
SAMPLES_CATALOG_CLASS = "io.lakeloom.samples.SamplesCatalog"
#: The samples catalog's schemas and tables (``jvm/samples/SampleTables.scala`` defines them).
SAMPLES_TABLES: dict[str, tuple[str, ...]] = {
    "nyctaxi": ("trips",),
    "tpch": ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"),
}


def samples_cache_dir(workspace: Workspace | None = None) -> Path:
    """Where the materialized sample tables live (one sub-folder per data version): the per-user
    cache, or ``<storage.root>/samples`` when the workspace's storage root is a ``file:`` mount."""
    root = workspace.storage_root if workspace is not None else None
    if root is not None and root.startswith("file:"):
        return Path(unquote(urlsplit(root).path)) / "samples"
    return cache_dir() / "samples"


def samples_spark_conf(workspace: Workspace) -> dict[str, str]:
    """The ``samples`` catalog as Spark settings (none when the workspace has its own ``samples``)."""
    if SAMPLES_CATALOG in workspace.catalogs:
        return {}
    prefix = f"spark.sql.catalog.{SAMPLES_CATALOG}"
    return {prefix: SAMPLES_CATALOG_CLASS, f"{prefix}.cache-dir": str(samples_cache_dir(workspace).resolve())}
