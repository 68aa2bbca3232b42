"""What the catalog browser shows about a table, read from files without a JVM: its Delta
history and current columns (``_delta_log/*.json``) and its lineage (the JSON lines the lineage
listener writes under ``<catalog_dir>/.lineage/``).

``DESCRIBE HISTORY`` is the ``commitInfo`` action of every JSON commit; the current schema is
the last ``metaData`` action. A commit file that Delta's log cleanup already removed (after the
log retention, 30 days by default) is simply absent from the history, as in Delta.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.catalog.system_conf import lineage_dir

if TYPE_CHECKING:
    from lakeloom.config import Workspace


@dataclass(frozen=True)
class HistoryEntry:
    """One row of ``DESCRIBE HISTORY`` (Delta's column names)."""

    version: int
    timestamp: int | None
    operation: str
    operation_parameters: dict[str, Any] = field(default_factory=dict)
    operation_metrics: dict[str, Any] = field(default_factory=dict)
    user_name: str | None = None
    engine_info: str | None = None


def _commits(table_dir: Path) -> list[tuple[int, Path]]:
    log = table_dir / "_delta_log"
    if not log.is_dir():
        return []
    out = []
    for f in log.glob("*.json"):
        if f.stem.isdigit():
            out.append((int(f.stem), f))
    return sorted(out)


def _actions(path: Path) -> list[dict[str, Any]]:
    actions = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            action = json.loads(line)
        except ValueError:
            continue
        if isinstance(action, dict):
            actions.append(action)
    return actions


def delta_history(table_dir: Path, limit: int = 100) -> list[HistoryEntry]:
    """The newest ``limit`` commits of the Delta table at ``table_dir``, newest first."""
    out = []
    for version, path in reversed(_commits(table_dir)[-limit:]):
        info = next((a["commitInfo"] for a in _actions(path) if "commitInfo" in a), {})
        params = {k: v for k, v in (info.get("operationParameters") or {}).items()}
        out.append(HistoryEntry(version=version, timestamp=info.get("timestamp") or info.get("inCommitTimestamp"),
                                operation=str(info.get("operation") or "UNKNOWN"), operation_parameters=params,
                                operation_metrics=dict(info.get("operationMetrics") or {}),
                                user_name=info.get("userName"), engine_info=info.get("engineInfo")))
    return out


def delta_columns(table_dir: Path) -> list[dict[str, Any]] | None:
    """The current columns (Spark's struct-field JSON) from the newest ``metaData`` action, or None."""
    for _, path in reversed(_commits(table_dir)):
        for action in _actions(path):
            meta = action.get("metaData")
            if isinstance(meta, dict) and meta.get("schemaString"):
                try:
                    return list(json.loads(meta["schemaString"]).get("fields") or [])
                except ValueError:
                    return None
    return None


@dataclass(frozen=True)
class LineageEdge:
    """A table-level lineage record: ``source`` (None for a write with no source) into ``target``."""

    source: str | None
    source_type: str | None
    target: str | None
    target_type: str | None
    event_time: int | None
    job_id: str | None
    run_id: str | None
    task_key: str | None
    created_by: str | None


def _edge(rec: dict[str, Any]) -> LineageEdge:
    job = ((rec.get("entity_metadata") or {}).get("job_info")) or {}
    return LineageEdge(
        source=rec.get("source_table_full_name") or rec.get("source_path"), source_type=rec.get("source_type"),
        target=rec.get("target_table_full_name") or rec.get("target_path"), target_type=rec.get("target_type"),
        event_time=rec.get("event_time") if isinstance(rec.get("event_time"), int) else None,
        job_id=rec.get("entity_id"), run_id=rec.get("entity_run_id"), task_key=job.get("task_key"),
        created_by=rec.get("created_by"))


def table_lineage(workspace: Workspace) -> list[LineageEdge]:
    """Every table-level lineage record of ``workspace``, oldest first."""
    root = lineage_dir(workspace)
    edges = []
    for path in sorted(root.rglob("*.jsonl")) if root.is_dir() else []:
        for line in path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line another process is still writing
            if isinstance(rec, dict) and rec.get("kind", "table") == "table":
                edges.append(_edge(rec))
    return sorted(edges, key=lambda e: e.event_time or 0)


@dataclass
class TableLineage:
    """A table's neighbours and the runs that wrote it."""

    upstream: list[tuple[str, str]] = field(default_factory=list)
    """``(name, type)`` of the datasets written into this table."""
    downstream: list[tuple[str, str]] = field(default_factory=list)
    """``(name, type)`` of the datasets this table was read into."""
    writes: list[LineageEdge] = field(default_factory=list)
    """One record per statement that wrote the table, newest first."""


def lineage_of(edges: list[LineageEdge], full_name: str) -> TableLineage:
    """Upstream and downstream neighbours of ``full_name`` and the writes into it."""
    out = TableLineage()
    seen_writes: set[tuple[str | None, str | None, int | None]] = set()
    for e in edges:
        if e.target == full_name:
            if e.source and (e.source, e.source_type or "TABLE") not in out.upstream:
                out.upstream.append((e.source, e.source_type or "TABLE"))
            key = (e.run_id, e.task_key, e.event_time)
            if key not in seen_writes:
                seen_writes.add(key)
                out.writes.append(e)
        elif e.source == full_name and e.target and (e.target, e.target_type or "TABLE") not in out.downstream:
            out.downstream.append((e.target, e.target_type or "TABLE"))
    out.writes.reverse()
    return out
