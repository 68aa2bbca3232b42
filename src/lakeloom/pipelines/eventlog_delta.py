"""Appending an update's events to the event log's Delta table without Spark.

The events are one small Parquet file (pyarrow) and one Delta commit (a JSON file made visible
with ``os.link``, which fails when another writer took the version: then the next version is
tried), the way Delta's own local log store commits. It spares every update a Spark job and a
Delta snapshot load, and still records the update when the Spark session is gone. Spark reads
the table as any Delta table. Tables whose protocol asks for writer features this writer does
not know are left to Spark (:func:`append_events` returns False).
"""
from __future__ import annotations

import json
import os
import time
import uuid
from datetime import timezone
from pathlib import Path
from typing import Any

_FIELDS = (("id", "string"), ("sequence", "long"), ("timestamp", "timestamp"), ("pipeline_name", "string"),
           ("update_id", "string"), ("event_type", "string"), ("level", "string"), ("dataset", "string"),
           ("flow", "string"), ("status", "string"), ("rows_written", "long"), ("message", "string"),
           ("details", "string"), ("error", "string"))
_SCHEMA = json.dumps({"type": "struct", "fields": [{"name": n, "type": t, "nullable": True, "metadata": {}}
                                                   for n, t in _FIELDS]})


def _arrow_schema() -> Any:
    import pyarrow as pa

    types = {"string": pa.string(), "long": pa.int64(), "timestamp": pa.timestamp("us")}
    return pa.schema([(n, types[t]) for n, t in _FIELDS])


def _latest(log_dir: Path) -> int:
    versions = [int(p.name[:20]) for p in log_dir.glob("*.json") if p.name[:20].isdigit()]
    return max(versions, default=-1)


def _writable(log_dir: Path) -> bool:
    """Whether the table's protocol (from its first commit) lets a plain writer append."""
    first = log_dir / f"{0:020d}.json"
    if not first.is_file():  # cleaned up after a checkpoint: let Spark read the protocol
        return False
    for line in first.read_text().splitlines():
        protocol = json.loads(line).get("protocol")
        if protocol is not None:
            return int(protocol.get("minWriterVersion", 1)) <= 2 and not protocol.get("writerFeatures")
    return True


def append_events(table_dir: Path, events: list[dict[str, Any]]) -> bool:
    """Append ``events`` (dicts with the event log's columns) in one commit; False when this
    table must be written by Spark instead."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    log_dir = table_dir / "_delta_log"
    if log_dir.is_dir() and _latest(log_dir) >= 0 and not _writable(log_dir):
        return False
    log_dir.mkdir(parents=True, exist_ok=True)

    # INT96 holding the UTC instant, as Spark writes timestamps: readers see one type.
    utc = [{**e, "timestamp": e["timestamp"].astimezone(timezone.utc).replace(tzinfo=None)} for e in events]
    rows = pa.Table.from_pylist(utc, schema=_arrow_schema())
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(rows, table_dir / name, compression="snappy", use_deprecated_int96_timestamps=True)
    size = (table_dir / name).stat().st_size
    now = int(time.time() * 1000)
    add = {"add": {"path": name, "partitionValues": {}, "size": size, "modificationTime": now, "dataChange": True,
                   "stats": json.dumps({"numRecords": len(events)})}}
    info = {"commitInfo": {"timestamp": now, "operation": "WRITE", "isBlindAppend": True,
                           "operationParameters": {"mode": "Append", "partitionBy": "[]"},
                           "operationMetrics": {"numFiles": "1", "numOutputRows": str(len(events)),
                                                "numOutputBytes": str(size)},
                           "engineInfo": "lakeloom"}}
    while True:
        version = _latest(log_dir) + 1
        actions = [info]
        if version == 0:
            actions += [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
                        {"metaData": {"id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
                                      "schemaString": _SCHEMA, "partitionColumns": [], "configuration": {},
                                      "createdTime": now}}]
        actions.append(add)
        tmp = log_dir / f".{version:020d}.json.{uuid.uuid4().hex}.tmp"
        tmp.write_text("".join(json.dumps(a) + "\n" for a in actions))
        try:
            os.link(tmp, log_dir / f"{version:020d}.json")
            return True
        except FileExistsError:
            continue  # another update committed this version first
        finally:
            tmp.unlink()
