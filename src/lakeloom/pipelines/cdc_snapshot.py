"""Auto CDC from snapshot (``create_auto_cdc_from_snapshot_flow``): full snapshots diffed into a target.

Each snapshot is compared with the target on the flow's keys and applied with one Delta MERGE:

- SCD type 1: new keys are inserted, rows whose values changed are updated, and keys the
  snapshot no longer has are deleted, so the target equals the last snapshot.
- SCD type 2: every version is kept with ``__START_AT``/``__END_AT`` (snapshot versions, of the
  versions' type). A change to a tracked column closes the current row at the snapshot's
  version and opens a new one; a change to untracked columns only updates the current row; a
  key missing from the snapshot is closed.

The source is a table or view name (snapshotted anew each update, the update's start time
being its version), a function of the last processed version returning the next
``(DataFrame, version)`` or ``None`` (called until it returns ``None``, so one update can work
through a backlog of historical snapshots), or one ``(DataFrame, version)`` pair (the legacy
``snapshot_and_version=`` form). The last processed version is kept beside the flow's
checkpoints, written after its MERGE commits; applying the same snapshot twice changes nothing,
so a crash between the two is harmless. A full refresh forgets it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.pipelines.model import Dataset, FlowDef, SnapshotCdcSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

    from lakeloom.pipelines.flows import FlowResult
    from lakeloom.pipelines.graph import UpdateGraph

START, END, MATCH = "__START_AT", "__END_AT", "__ll_match"
STATE_FILE = "snapshot_version.json"


class SnapshotError(ValueError):
    """A snapshot or version the flow cannot apply (the message names the flow)."""


# ---- versions ----------------------------------------------------------------------------------


def encode_version(version: Any) -> dict[str, Any]:
    """A snapshot version as JSON (ints, floats, strings, dates, timestamps and decimals)."""
    if isinstance(version, bool):
        raise TypeError("a snapshot version cannot be a bool")
    if isinstance(version, int):
        return {"type": "int", "value": version}
    if isinstance(version, float):
        return {"type": "float", "value": version}
    if isinstance(version, str):
        return {"type": "str", "value": version}
    if isinstance(version, dt.datetime):
        return {"type": "timestamp", "value": version.isoformat()}
    if isinstance(version, dt.date):
        return {"type": "date", "value": version.isoformat()}
    if isinstance(version, Decimal):
        return {"type": "decimal", "value": str(version)}
    raise TypeError(f"a snapshot version must be an int, float, str, date, datetime or Decimal, "
                    f"got {type(version).__name__}")


def decode_version(data: dict[str, Any]) -> Any:
    kind, value = data["type"], data["value"]
    return {"int": int, "float": float, "str": str, "timestamp": dt.datetime.fromisoformat,
            "date": dt.date.fromisoformat, "decimal": Decimal}[kind](value)


def version_type(version: Any) -> DataType:
    """The Spark type of ``__START_AT``/``__END_AT`` for versions like ``version``."""
    from pyspark.sql import types as T

    encoded = encode_version(version)["type"]
    if encoded == "decimal":
        return T.DecimalType(38, max(0, -version.as_tuple().exponent))
    return {"int": T.LongType(), "float": T.DoubleType(), "str": T.StringType(),
            "timestamp": T.TimestampType(), "date": T.DateType()}[encoded]


def load_version(state_dir: Path) -> Any:
    """The last processed snapshot version (``None`` before the first)."""
    try:
        return decode_version(json.loads((state_dir / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None


def save_version(state_dir: Path, version: Any) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".{STATE_FILE}.{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(json.dumps(encode_version(version)))
    os.replace(tmp, state_dir / STATE_FILE)


# ---- snapshots ---------------------------------------------------------------------------------


def next_snapshot(spark: SparkSession, spec: SnapshotCdcSpec, latest: Any, started: dt.datetime,
                  where: str) -> tuple[DataFrame, Any] | None:
    """The next snapshot to apply after version ``latest``, or ``None`` when there is none."""
    source = spec.source
    if isinstance(source, str):
        if latest is not None and not started > latest:
            return None  # this update's snapshot is applied already
        return spark.read.table(source), started
    if isinstance(source, tuple):
        df, version = source
        return (df, version) if latest is None or _greater(version, latest, where) else None
    result = source(latest)
    if result is None:
        return None
    if not (isinstance(result, tuple) and len(result) == 2 and hasattr(result[0], "schema")):
        raise SnapshotError(f"{where}: the source function must return (DataFrame, version) or None, "
                            f"got {type(result).__name__}")
    df, version = result
    encode_version(version)
    if latest is not None and not _greater(version, latest, where):
        raise SnapshotError(f"{where}: the source function returned version {version!r}, which is not greater "
                            f"than the last processed version {latest!r}; snapshot versions must increase")
    return df, version


def _greater(version: Any, latest: Any, where: str) -> bool:
    try:
        return bool(version > latest)
    except TypeError as e:
        raise SnapshotError(f"{where}: snapshot version {version!r} cannot be compared with the last processed "
                            f"version {latest!r} ({e})") from e


def _q(c: str) -> str:
    return "`" + c.replace("`", "``") + "`"


class SnapshotPlan:
    """Keys, columns and tracked columns of one flow, from a snapshot's schema."""

    def __init__(self, spec: SnapshotCdcSpec, columns: list[str], where: str) -> None:
        lower = {c.lower(): c for c in columns}

        def known(names: list[str], what: str) -> list[str]:
            missing = [n for n in names if n.lower() not in lower]
            if missing:
                raise SnapshotError(f"{where}: {what} names unknown column(s) {missing}; snapshot columns: {columns}")
            return [lower[n.lower()] for n in names]

        clash = [c for c in columns if c.upper() in (START, END)]
        if spec.stored_as_scd_type == 2 and clash:
            raise SnapshotError(f"{where}: the snapshot has column(s) {clash}, which SCD type 2 adds itself")
        self.keys = known(spec.keys, "keys")
        self.columns = columns
        non_key = [c for c in columns if c not in self.keys]
        if spec.track_history_column_list is not None:
            tracked = known(spec.track_history_column_list, "track_history_column_list")
        else:
            excluded = set(known(spec.track_history_except_column_list or [], "track_history_except_column_list"))
            tracked = [c for c in non_key if c not in excluded]
        self.tracked = [c for c in non_key if c in tracked]
        self.untracked = [c for c in non_key if c not in tracked]
        self.scd = spec.stored_as_scd_type

    def target_schema(self, snapshot: DataFrame, version: Any) -> StructType:
        from pyspark.sql.types import StructField, StructType

        fields = [StructField(f.name, f.dataType, True) for f in snapshot.schema.fields]
        if self.scd == 2:
            vt = version_type(version)
            fields += [StructField(START, vt, True), StructField(END, vt, True)]
        return StructType(fields)

    def on(self, *, current_only: bool) -> str:
        keys = " AND ".join(f"t.{_q(k)} <=> s.{_q(k)}" for k in self.keys)
        return f"s.{MATCH} AND t.{END} IS NULL AND {keys}" if current_only else keys


def check_unique_keys(snapshot: DataFrame, keys: list[str], where: str) -> None:
    """Refuse a snapshot with more than one row for a key (a MERGE could not tell which applies)."""
    dup = snapshot.groupBy(*[_q(k) for k in keys]).count().where("count > 1").limit(1).collect()
    if dup:
        key = {k: dup[0][k] for k in keys}
        raise SnapshotError(f"{where}: the snapshot has {dup[0]['count']} rows for key {key}; "
                            "keys must identify one row of a snapshot")


def target_frame(spark: SparkSession, target: str) -> DataFrame:
    """The target table, read around the update's interception of its own dataset's name."""
    from delta.tables import DeltaTable

    return DeltaTable.forName(spark, target).toDF()


def _differs(columns: list[str]) -> str:
    return " OR ".join(f"NOT (t.{_q(c)} <=> s.{_q(c)})" for c in columns)


def add_new_columns(spark: SparkSession, target: str, snapshot: DataFrame) -> None:
    """Columns a snapshot brings that the target lacks are added to it (schema evolution)."""
    existing = {c.lower() for c in target_frame(spark, target).columns}
    new = [f for f in snapshot.schema.fields if f.name.lower() not in existing]
    if new:
        cols = ", ".join(f"{_q(f.name)} {f.dataType.simpleString()}" for f in new)
        spark.sql(f"ALTER TABLE {target} ADD COLUMNS ({cols})")


def apply_snapshot(spark: SparkSession, plan: SnapshotPlan, target: str, snapshot: DataFrame,
                   version: Any) -> dict[str, int]:
    """Apply one snapshot to ``target`` with one MERGE; its row counts (inserted, updated, deleted)."""
    from delta.tables import DeltaTable

    if plan.scd == 1:
        values = {_q(c): f"s.{_q(c)}" for c in plan.columns}
        non_key = [c for c in plan.columns if c not in plan.keys]
        merge = DeltaTable.forName(spark, target).alias("t").merge(snapshot.alias("s"), plan.on(current_only=False))
        if non_key:
            merge = merge.whenMatchedUpdate(condition=_differs(non_key),
                                            set={_q(c): f"s.{_q(c)}" for c in non_key})
        merge = merge.whenNotMatchedInsert(values=values).whenNotMatchedBySourceDelete()
    else:
        merge = _scd2_merge(spark, plan, target, snapshot, version)
    row = merge.execute().first()
    return {"inserted": int(row["num_inserted_rows"] or 0), "updated": int(row["num_updated_rows"] or 0),
            "deleted": int(row["num_deleted_rows"] or 0)}


def _scd2_merge(spark: SparkSession, plan: SnapshotPlan, target: str, snapshot: DataFrame, version: Any) -> Any:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    table = DeltaTable.forName(spark, target)
    schema = table.toDF().schema
    v: Column = F.lit(version).cast(schema[START].dataType)
    # A key whose tracked columns changed needs two actions, closing its current row and
    # inserting the new one: it comes twice, once to match (close) and once never to match (insert).
    matched = snapshot.withColumn(MATCH, F.lit(True))
    staged = matched
    if plan.tracked:
        current = table.toDF().where(F.col(END).isNull()).select(*[_q(c) for c in plan.keys + plan.tracked])
        cur = current.select(*[F.col(_q(c)).alias(f"__cur_{i}") for i, c in enumerate(plan.keys + plan.tracked)])
        n = len(plan.keys)
        same_key = [F.col(_q(k)).eqNullSafe(F.col(f"__cur_{i}")) for i, k in enumerate(plan.keys)]
        changed = [~F.col(_q(c)).eqNullSafe(F.col(f"__cur_{n + i}")) for i, c in enumerate(plan.tracked)]
        cond = same_key[0]
        for c in same_key[1:]:
            cond = cond & c
        any_change = changed[0]
        for c in changed[1:]:
            any_change = any_change | c
        reopened = snapshot.join(cur, cond, "inner").where(any_change).select(*[_q(c) for c in plan.columns])
        staged = matched.unionByName(reopened.withColumn(MATCH, F.lit(False)))
    merge = table.alias("t").merge(staged.alias("s"), plan.on(current_only=True))
    if plan.tracked:
        merge = merge.whenMatchedUpdate(condition=_differs(plan.tracked), set={END: v})
    if plan.untracked:
        merge = merge.whenMatchedUpdate(condition=_differs(plan.untracked),
                                        set={_q(c): f"s.{_q(c)}" for c in plan.untracked})
    values: dict[str, Any] = {_q(c): F.col(f"s.{_q(c)}") for c in plan.columns}
    values.update({START: v, END: F.lit(None).cast(schema[END].dataType)})
    return (merge.whenNotMatchedInsert(values=values)
            .whenNotMatchedBySourceUpdate(condition=f"t.{END} IS NULL", set={END: v}))


# ---- the flow ----------------------------------------------------------------------------------


def run_snapshot_cdc(graph: UpdateGraph, ds: Dataset, flow: FlowDef, cancel: threading.Event | None) -> FlowResult:
    """An Auto CDC from snapshot flow: every snapshot not applied yet, in version order."""
    from lakeloom.pipelines.cdc import create_target
    from lakeloom.pipelines.flows import FlowError, FlowResult, checkpoint_dir, table_properties

    assert flow.snapshot is not None
    spec = flow.snapshot
    where = f"{flow.location}: Auto CDC from snapshot into {ds.name!r}"
    state_dir = checkpoint_dir(graph.storage, ds, flow)
    latest = load_version(state_dir)
    result = FlowResult(flow.name, ds.name, mode=f"SCD{spec.stored_as_scd_type}_FROM_SNAPSHOT")
    if spec.once and latest is not None:
        return result
    target = graph.qualified(ds)
    spark = graph.session
    while True:
        if cancel is not None and cancel.is_set():
            raise FlowError("cancelled")
        nxt = next_snapshot(spark, spec, latest, graph.started, where)
        if nxt is None:
            return result
        snapshot, version = nxt
        plan = SnapshotPlan(spec, snapshot.columns, where)
        check_unique_keys(snapshot, plan.keys, where)
        create_target(spark, target, plan.target_schema(snapshot, version), table_properties(ds), ds.comment)
        add_new_columns(spark, target, snapshot)
        counts = apply_snapshot(spark, plan, target, snapshot, version)
        save_version(state_dir, version)
        result.rows_written += sum(counts.values())
        latest = version
        if spec.once or not callable(spec.source):
            return result


def planned_schema(graph: UpdateGraph, ds: Dataset, flow: FlowDef) -> StructType | None:
    """The target's schema for a dry run: from the next snapshot, else the existing table."""
    assert flow.snapshot is not None
    spec = flow.snapshot
    where = f"{flow.location}: Auto CDC from snapshot into {ds.name!r}"
    from lakeloom.pipelines.flows import checkpoint_dir

    latest = load_version(checkpoint_dir(graph.storage, ds, flow))
    nxt = next_snapshot(graph.session, spec, latest, graph.started, where)
    if nxt is not None:
        snapshot, version = nxt
        return SnapshotPlan(spec, snapshot.columns, where).target_schema(snapshot, version)
    target = graph.qualified(ds)
    return target_frame(graph.session, target).schema if graph.session.catalog.tableExists(target) else None

