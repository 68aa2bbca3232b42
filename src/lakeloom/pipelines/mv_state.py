"""What a materialized view was last refreshed from, and what changed in its sources since.

After every refresh the view's state file (``<storage>/mv_state/<view>.json``) records the
Delta version it read of each source, the view's own version after the write, its plan
signature and schema. The next refresh reads the sources' ``_delta_log`` commits between the
recorded and the current version (plain files, no Spark job) to decide whether their Change
Data Feed can drive an incremental refresh: CDF on, no overwrite, no schema or property change.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from lakeloom.pipelines.graph import UpdateGraph

CDF_PROPERTY = "delta.enableChangeDataFeed"
_OVERWRITES = {"CREATE OR REPLACE TABLE AS SELECT", "REPLACE TABLE AS SELECT", "REPLACE TABLE", "TRUNCATE",
               "RESTORE", "CREATE OR REPLACE TABLE", "CREATE TABLE AS SELECT", "CREATE TABLE"}


@dataclass
class SourceTable:
    """A Delta table a view reads, as it is now."""

    key: str
    table: str
    location: Path | None
    version: int
    cdf: bool


@dataclass
class ViewState:
    """What the view's last refresh read and wrote."""

    signature: str
    schema: str
    target_version: int
    sources: dict[str, int] = field(default_factory=dict)
    #: The query's analysis (:meth:`PlanShape.to_record`), reused while the plan is the same.
    shape: dict[str, Any] | None = None
    #: Table name -> [local folder, change feed on] of the sources and the view, as of the
    #: recorded versions (commits after them are read anyway: a property change shows there).
    tables: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class Changes:
    """The commits of one source between two versions."""

    commits: int = 0
    inserts_only: bool = True
    problem: str | None = None


def local_dir(location: str) -> Path | None:
    """The local folder of a table location (``file:`` URI or plain path); None elsewhere."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def latest_version(location: Path) -> int:
    """The table's newest commit version, from its ``_delta_log`` listing."""
    newest = -1
    with os.scandir(location / "_delta_log") as entries:
        for entry in entries:
            name = entry.name
            if name.endswith(".json") and name[:20].isdigit() and len(name) == 25:
                newest = max(newest, int(name[:20]))
    return newest


def catalog_location(graph: UpdateGraph, table: str) -> Path | None:
    """The table's local folder as the workspace's catalog store records it (a file read)."""
    from lakeloom.catalog.listing import get_table

    if graph.workspace is None:
        return None
    try:
        info = get_table(graph.workspace, table)
    except ValueError:
        return None
    return local_dir(info.storage_location) if info is not None and info.storage_location else None


def change_feed_from_log(location: Path, limit: int = 100) -> bool | None:
    """Whether the newest ``metaData`` action turns the change data feed on, read from the
    newest JSON commits backwards; None when it is not among the last ``limit`` of them or a
    commit file is gone (then Spark is asked)."""
    log = location / "_delta_log"
    newest = latest_version(location)
    for version in range(newest, max(newest - limit, -1), -1):
        try:
            lines = (log / f"{version:020d}.json").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            if '"metaData"' not in line:
                continue
            meta = json.loads(line).get("metaData")
            if meta is not None:
                return str((meta.get("configuration") or {}).get(CDF_PROPERTY, "")).lower() == "true"
    return None


def reuse_details(graph: UpdateGraph, state: ViewState) -> list[str]:
    """Take the tables' locations and change feed settings from the view's last refresh
    (sparing even the log read of :func:`describe_source`), for the tables the workspace's
    catalog still keeps at the recorded location; returns those tables."""
    reused: list[str] = []
    for table, (location, cdf) in state.tables.items():
        if table in graph.details or location is None:
            continue
        found = catalog_location(graph, table)
        if found is not None and found == Path(location):
            graph.details.setdefault(table, (found, bool(cdf)))
            reused.append(table)
    return reused


def recorded_details(graph: UpdateGraph, tables: list[str]) -> dict[str, list[Any]]:
    """What :func:`reuse_details` takes back next time, for ``tables`` described in this update."""
    out: dict[str, list[Any]] = {}
    for table in tables:
        known = graph.details.get(table)
        if known is not None and known[0] is not None:
            out[table] = [str(known[0]), known[1]]
    return out


def describe_source(graph: UpdateGraph, key: str, table: str, *, fresh: bool = False) -> SourceTable:
    """Location, current version and CDF setting of a source table, the version from its
    ``_delta_log`` listing. The location and setting are looked up once per table and update
    (``fresh`` looks again: after a table was replaced or altered) unless
    :func:`reuse_details` knew them: from the catalog store and the table's newest ``metaData``
    commit (files), else with ``DESCRIBE DETAIL`` (a Spark job)."""
    cached = None if fresh else graph.details.get(table)
    if cached is None:
        location = catalog_location(graph, table)
        cdf = change_feed_from_log(location) if location is not None and (location / "_delta_log").is_dir() \
            else None
        if location is not None and cdf is not None:
            cached = graph.details[table] = (location, cdf)
    if cached is None:
        detail = graph.raw_sql(f"DESCRIBE DETAIL {table}").first()
        location = local_dir(str(detail.location)) if detail is not None and detail.location else None
        props = dict(detail.properties or {}) if detail is not None else {}
        cached = graph.details[table] = (location, str(props.get(CDF_PROPERTY, "")).lower() == "true")
    location, cdf = cached
    version = latest_version(location) if location is not None and (location / "_delta_log").is_dir() else -1
    return SourceTable(key, table, location, version, cdf)


def changes_between(location: Path, start: int, end: int) -> Changes:
    """Summarize commits ``start+1 .. end`` of the table at ``location``."""
    out = Changes()
    log = location / "_delta_log"
    for version in range(start + 1, end + 1):
        path = log / f"{version:020d}.json"
        try:
            lines = path.read_text().splitlines()
        except OSError:
            out.problem = f"commit {version} is no longer in the Delta log"
            return out
        out.commits += 1
        for line in lines:
            action = json.loads(line)
            if "metaData" in action:
                out.problem = f"schema or properties changed at version {version}"
                return out
            info = action.get("commitInfo")
            if info is not None:
                op = str(info.get("operation", ""))
                mode = str((info.get("operationParameters") or {}).get("mode", "")).strip('"')
                if op in _OVERWRITES or mode == "Overwrite" or (op == "WRITE" and mode not in ("Append", "")):
                    out.problem = f"overwritten at version {version} ({op})"
                    return out
            remove = action.get("remove")
            if remove is not None and remove.get("dataChange", True):
                out.inserts_only = False
    return out


def state_path(graph: UpdateGraph, view: str) -> Path:
    return graph.storage / "mv_state" / f"{view.lower()}.json"


def load_state(graph: UpdateGraph, view: str) -> ViewState | None:
    try:
        data: dict[str, Any] = json.loads(state_path(graph, view).read_text())
        return ViewState(**data)
    except (OSError, ValueError, TypeError):
        return None


def save_state(graph: UpdateGraph, view: str, state: ViewState) -> None:
    path = state_path(graph, view)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    tmp.replace(path)


def forget_state(graph: UpdateGraph, view: str) -> None:
    state_path(graph, view).unlink(missing_ok=True)


def read_by_other_views(graph: UpdateGraph, view: str) -> bool:
    """Whether another view of the pipeline recorded ``view`` as one of its sources (it then
    reads this view's change feed: its changes must stay row changes, not an overwrite)."""
    folder = graph.storage / "mv_state"
    key = view.lower()
    try:
        names = [p for p in folder.glob("*.json") if p.stem != key]
    except OSError:
        return False
    for path in names:
        try:
            if key in json.loads(path.read_text()).get("sources", {}):
                return True
        except (OSError, ValueError, AttributeError):
            return True  # unreadable: assume it does
    return False
