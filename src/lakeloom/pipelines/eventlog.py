"""The pipeline event log: one Delta table per pipeline under ``<storage>/system/events``.

Each update appends its events in one commit when it ends (also when it fails). Event types
follow Databricks' event log: ``create_update``, ``flow_definition`` (with the inputs found),
``flow_progress`` (``details.flow_progress``: status, ``metrics.num_output_rows``,
``data_quality.expectations[{name, dataset, passed_records, failed_records}]``) and
``update_progress``. Query it from SQL with ``SELECT * FROM delta.`<storage>/system/events```;
:func:`read_events` reads it without a JVM (``lakeloom pipeline runs``).
"""
from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

COLUMNS = ("id", "sequence", "timestamp", "pipeline_name", "update_id", "event_type", "level", "dataset",
           "flow", "status", "rows_written", "message", "details", "error")
_DDL = ("id STRING, sequence BIGINT, timestamp TIMESTAMP, pipeline_name STRING, update_id STRING, "
        "event_type STRING, level STRING, dataset STRING, flow STRING, status STRING, rows_written BIGINT, "
        "message STRING, details STRING, error STRING")


def event_log_path(storage: Path) -> Path:
    return storage / "system" / "events"


@dataclass
class EventLog:
    """Events of one update, buffered and appended to the Delta table by :meth:`flush`."""

    storage: Path
    pipeline_name: str
    update_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    events: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def emit(self, event_type: str, message: str, *, level: str = "INFO", dataset: str | None = None,
             flow: str | None = None, status: str | None = None, rows_written: int | None = None,
             details: dict[str, Any] | None = None, error: str | None = None) -> dict[str, Any]:
        encoded = json.dumps(details or {}, default=str)
        with self._lock:  # flows run on several threads; sequence numbers stay dense and ordered
            event = {
                "id": uuid.uuid4().hex, "sequence": len(self.events), "timestamp": datetime.now(timezone.utc),
                "pipeline_name": self.pipeline_name, "update_id": self.update_id, "event_type": event_type,
                "level": level, "dataset": dataset, "flow": flow, "status": status, "rows_written": rows_written,
                "message": message, "details": encoded, "error": error,
            }
            self.events.append(event)
        return event

    def flush(self, spark: SparkSession) -> None:
        """Append the buffered events (one Delta commit; without Spark when the table allows it)."""
        from lakeloom.pipelines.eventlog_delta import append_events

        if not self.events:
            return
        if not append_events(event_log_path(self.storage), self.events):
            rows = [tuple(e[c] for c in COLUMNS) for e in self.events]
            df = spark.createDataFrame(rows, _DDL)
            df.write.format("delta").mode("append").save(str(event_log_path(self.storage)))
        self.events = []


def read_events(storage: Path) -> list[dict[str, Any]]:
    """Every event of the log, oldest first, read from the Delta log and Parquet files (no JVM)."""
    import pyarrow.parquet as pq

    table_dir = event_log_path(storage)
    log_dir = table_dir / "_delta_log"
    if not log_dir.is_dir():
        return []
    live: dict[str, bool] = {}
    checkpoint = _last_checkpoint(log_dir)
    if checkpoint is not None:
        version, files = checkpoint
        for f in files:
            for row in pq.read_table(f, columns=["add"]).column("add").to_pylist():
                if row and row.get("path"):
                    live[row["path"]] = True
    else:
        version = -1
    for commit in sorted(log_dir.glob("*.json")):
        if int(commit.stem) <= version:
            continue
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live[action["add"]["path"]] = True
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    events: list[dict[str, Any]] = []
    for rel in live:
        events.extend(pq.read_table(table_dir / _unescape(rel)).to_pylist())
    events.sort(key=lambda e: (e["timestamp"], e["update_id"], e["sequence"]))
    return events


def _unescape(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)


def _last_checkpoint(log_dir: Path) -> tuple[int, list[Path]] | None:
    marker = log_dir / "_last_checkpoint"
    if not marker.is_file():
        return None
    version = int(json.loads(marker.read_text())["version"])
    files = sorted(log_dir.glob(f"{version:020d}.checkpoint*.parquet"))
    return (version, files) if files else None


@dataclass
class UpdateSummary:
    """One update as ``lakeloom pipeline runs`` shows it."""

    update_id: str
    started: datetime
    ended: datetime | None
    status: str
    rows_written: int
    datasets: int
    failed_records: int
    dropped_records: int
    error: str | None
    #: Per dataset and expectation: ``{dataset, name, action, passed_records, failed_records,
    #: dropped_records}`` (dropped: the failing rows of a ``drop`` expectation), as Databricks'
    #: pipeline UI lists them.
    expectations: list[dict[str, Any]] = field(default_factory=list)


def summarize(events: list[dict[str, Any]]) -> list[UpdateSummary]:
    """Per-update summaries, oldest first."""
    by_update: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_update.setdefault(e["update_id"], []).append(e)
    out = []
    for update_id, evs in by_update.items():
        evs.sort(key=lambda e: e["sequence"])
        final = next((e for e in reversed(evs) if e["event_type"] == "update_progress"
                      and e["status"] in ("COMPLETED", "FAILED", "CANCELED")), None)
        progress = [e for e in evs if e["event_type"] == "flow_progress" and e["status"] == "COMPLETED"]
        failed = dropped = 0
        checks: dict[tuple[str, str], dict[str, Any]] = {}
        for e in evs:
            if e["event_type"] != "flow_progress":
                continue
            dq = json.loads(e["details"] or "{}").get("flow_progress", {}).get("data_quality") or {}
            dropped += int(dq.get("dropped_records") or 0)
            failed += sum(int(x.get("failed_records") or 0) for x in dq.get("expectations", []))
            for x in dq.get("expectations", []):
                _add_expectation(checks, x, e.get("dataset"))
        out.append(UpdateSummary(
            update_id, evs[0]["timestamp"], final["timestamp"] if final else None,
            final["status"] if final else "RUNNING", sum(int(e["rows_written"] or 0) for e in progress),
            len({e["dataset"] for e in progress}), failed, dropped, final["error"] if final else None,
            list(checks.values())))
    out.sort(key=lambda s: s.started)
    return out


def _add_expectation(checks: dict[tuple[str, str], dict[str, Any]], x: dict[str, Any], dataset: str | None) -> None:
    """Sum one flow's counts of an expectation into its dataset's (a dataset may have several flows)."""
    key = (str(x.get("dataset") or dataset or ""), str(x.get("name")))
    entry = checks.setdefault(key, {"dataset": key[0], "name": key[1], "action": x.get("action") or "warn",
                                    "passed_records": 0, "failed_records": 0, "dropped_records": 0})
    entry["passed_records"] += int(x.get("passed_records") or 0)
    entry["failed_records"] += int(x.get("failed_records") or 0)
    if entry["action"] == "drop":
        entry["dropped_records"] += int(x.get("failed_records") or 0)
