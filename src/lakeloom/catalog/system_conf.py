"""Spark settings for lineage capture, the OpenLineage export and the read-only ``system`` catalog.

Lineage is recorded by a Spark listener in the catalog jar (``jvm/lineage/``) as JSON lines under
``<workspace.catalog_dir>/.lineage/``; audit events (authorization decisions, grant changes, API
token use, job actions) are JSON lines under ``<workspace.catalog_dir>/.audit/``. The ``system``
catalog (``jvm/system/``) serves both, plus the run store (over JDBC), as Databricks' system
tables: ``system.access.{audit,table_lineage,column_lineage}`` and
``system.lakeflow.{jobs,job_tasks,job_run_timeline,job_task_run_timeline}``.

Config (``conf/lakeloom.yml``)::

    governance:
      lineage: true                        # default; false turns the listener off
      openlineage:                         # optional export, as OpenLineage's http/file transports
        url: http://localhost:5000         # POSTs to url + endpoint
        endpoint: /api/v1/lineage          # default
        file: /tmp/lineage.jsonl           # one event per line
        namespace: lakeloom                # default
        api_key: "{{secrets/ol/key}}"      # sent as a bearer token
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from lakeloom.config import Workspace

LINEAGE_LISTENER_CLASS = "org.apache.spark.sql.lakeloom.lineage.LineageListener"
SYSTEM_CATALOG_CLASS = "io.lakeloom.system.SystemCatalog"
SYSTEM_CATALOG = "system"
#: The system catalog's schemas and tables (``jvm/system/SystemCatalog.scala`` serves them).
SYSTEM_TABLES: dict[str, tuple[str, ...]] = {
    "access": ("audit", "column_lineage", "table_lineage"),
    "lakeflow": ("job_run_timeline", "job_task_run_timeline", "job_tasks", "jobs"),
}
LINEAGE_DIR_NAME = ".lineage"
AUDIT_DIR_NAME = ".audit"


def lineage_dir(workspace: Workspace) -> Path:
    """Where lineage records are written (one ``<day>/<host>-<pid>-<id>.jsonl`` file per process and day)."""
    return workspace.catalog_dir / LINEAGE_DIR_NAME


def audit_dir(workspace: Workspace) -> Path:
    """Where audit events are written (JSON lines, any file layout below it)."""
    return workspace.catalog_dir / AUDIT_DIR_NAME


def governance_settings(workspace: Workspace) -> dict[str, Any]:
    """The ``governance`` block of the workspace config (empty when absent)."""
    value = workspace.settings.get("governance") or {}
    if not isinstance(value, dict):
        raise ValueError(f"conf/lakeloom.yml: governance must be a mapping, not {type(value).__name__}")
    return value


def jdbc_url(store_url: str) -> str | None:
    """The JDBC URL of a run store's SQLAlchemy URL (SQLite or PostgreSQL), else None."""
    parts = urlsplit(store_url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        path = store_url.split(":///", 1)[1] if ":///" in store_url else ""
        return f"jdbc:sqlite:{Path(unquote(path)).resolve()}" if path else None
    if scheme in ("postgresql", "postgres"):
        query = [f"{k}={quote(unquote(v), safe='')}" for k, v in (("user", parts.username), ("password", parts.password)) if v]
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"jdbc:postgresql://{host}{port}{parts.path}" + (f"?{'&'.join(query)}" if query else "")
    return None


def system_spark_conf(workspace: Workspace) -> dict[str, str]:
    """The listener, the ``system`` catalog and the OpenLineage export, as Spark settings."""
    gov = governance_settings(workspace)
    workspace_id = str(workspace.workspace_id)
    conf = {
        f"spark.sql.catalog.{SYSTEM_CATALOG}": SYSTEM_CATALOG_CLASS,
        f"spark.sql.catalog.{SYSTEM_CATALOG}.lineage-dir": str(lineage_dir(workspace).resolve()),
        f"spark.sql.catalog.{SYSTEM_CATALOG}.audit-dir": str(audit_dir(workspace).resolve()),
        f"spark.sql.catalog.{SYSTEM_CATALOG}.workspace-id": workspace_id,
    }
    if url := jdbc_url(workspace.store_url):
        conf[f"spark.sql.catalog.{SYSTEM_CATALOG}.store-url"] = url
    if gov.get("lineage", True) is not False:
        conf["spark.extraListeners"] = LINEAGE_LISTENER_CLASS
        conf["spark.lakeloom.lineage.dir"] = str(lineage_dir(workspace).resolve())
        conf["spark.lakeloom.workspace_id"] = workspace_id
    ol = gov.get("openlineage") or {}
    if not isinstance(ol, dict):
        raise ValueError("conf/lakeloom.yml: governance.openlineage must be a mapping (url, endpoint, file, namespace)")
    for key in ("url", "endpoint", "file", "namespace", "api_key"):
        if ol.get(key):
            value = workspace.resolve_secrets(str(ol[key]))
            conf[f"spark.lakeloom.openlineage.{key}"] = str(workspace.local_path(value)) if key == "file" else value
    return conf
