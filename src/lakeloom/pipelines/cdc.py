"""Auto CDC (APPLY CHANGES): change events applied to a Delta table with MERGE, per micro-batch.

SCD type 1 keeps one row per key. A side table under the pipeline's storage remembers the
last applied sequence per key (with delete tombstones), so late, out-of-order events lose
against newer ones, also across updates.

SCD type 2 keeps every version with ``__START_AT`` / ``__END_AT`` (of the type of
``sequence_by``). For the keys touched by a batch, the history is recomputed from the
versions already stored plus the new events and swapped in with one MERGE, so a late event
lands between the versions it belongs to. Only changes to tracked columns open a new
version; other changes update the current version in place.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.pipelines.model import CdcSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SEQ, DEL, START, END = "__ll_seq", "__ll_delete", "__START_AT", "__END_AT"


@dataclass
class CdcPlan:
    """The column layout of one CDC flow, derived from the source schema."""

    spec: CdcSpec
    columns: list[str]
    tracked: list[str]

    @classmethod
    def build(cls, spec: CdcSpec, source_columns: list[str], where: str) -> CdcPlan:
        lower = {c.lower(): c for c in source_columns}

        def known(names: list[str], what: str) -> list[str]:
            missing = [n for n in names if n.lower() not in lower]
            if missing:
                raise ValueError(f"{where}: {what} names unknown column(s) {missing}; "
                                 f"source columns: {source_columns}")
            return [lower[n.lower()] for n in names]

        keys = known(spec.keys, "keys")
        if spec.column_list is not None:
            cols = known(spec.column_list, "column_list")
            cols = keys + [c for c in cols if c not in keys]
        else:
            excluded = set(known(spec.except_column_list or [], "except_column_list"))
            cols = [c for c in source_columns if c not in excluded or c in keys]
        non_key = [c for c in cols if c not in keys]
        if spec.track_history_column_list is not None:
            tracked = known(spec.track_history_column_list, "track_history_column_list")
        else:
            ex = set(known(spec.track_history_except_column_list or [], "track_history_except_column_list"))
            tracked = [c for c in non_key if c not in ex]
        spec.keys = keys
        return cls(spec, cols, [c for c in tracked if c in non_key])

    def events(self, source: DataFrame) -> DataFrame:
        """Source rows as (columns, sequence, is-delete)."""
        from pyspark.sql import functions as F

        deletes = self.spec.apply_as_deletes
        delete = F.coalesce(_expr(deletes), F.lit(False)) if deletes is not None else F.lit(False)
        return source.select(*[F.col(f"`{c}`") for c in self.columns],
                             _expr(self.spec.sequence_by).alias(SEQ), delete.alias(DEL))

    def target_schema(self, source: DataFrame) -> Any:
        from pyspark.sql.types import StructField, StructType

        ev = self.events(source).schema
        fields = [ev[c] for c in self.columns]
        if self.spec.stored_as_scd_type == 2:
            seq_type = ev[SEQ].dataType
            fields += [StructField(START, seq_type, True), StructField(END, seq_type, True)]
        return StructType([StructField(f.name, f.dataType, True) for f in fields])


def _expr(e: Any) -> Any:
    from pyspark.sql import functions as F

    return F.expr(e) if isinstance(e, str) else e


def _q(c: str) -> str:
    return f"`{c}`"


def apply_scd1(batch: DataFrame, plan: CdcPlan, target: str, state_path: Path) -> int:
    """Apply one micro-batch to an SCD type 1 target; returns the number of events applied."""
    cached: list[DataFrame] = []
    try:
        return _apply_scd1(batch, plan, target, state_path, cached)
    finally:
        for df in cached:
            df.unpersist()


def _apply_scd1(batch: DataFrame, plan: CdcPlan, target: str, state_path: Path, cached: list[DataFrame]) -> int:
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = batch.sparkSession
    keys = plan.spec.keys
    ev = plan.events(batch)
    w = Window.partitionBy(*[_q(k) for k in keys]).orderBy(F.col(SEQ).desc())
    latest = ev.withColumn("__rn", F.row_number().over(w)).where("__rn = 1").drop("__rn")
    state_exists = (state_path / "_delta_log").is_dir()
    if state_exists:
        state = spark.read.format("delta").load(str(state_path)).withColumnRenamed(SEQ, "__state_seq")
        cond = [latest[_q(k)].eqNullSafe(state[_q(k)]) for k in keys]
        latest = (latest.join(state.select(*[_q(k) for k in keys], "__state_seq"), cond, "left")
                  .select(latest["*"], state["__state_seq"])
                  .where(F.col("__state_seq").isNull() | (F.col(SEQ) > F.col("__state_seq"))).drop("__state_seq"))
    latest = _cache(latest, cached)
    n = latest.count()
    if n == 0:
        return 0
    on = " AND ".join(f"t.{_q(k)} <=> s.{_q(k)}" for k in keys)
    non_key = [c for c in plan.columns if c not in keys]
    if plan.spec.ignore_null_updates:
        updates = {_q(c): f"coalesce(s.{_q(c)}, t.{_q(c)})" for c in non_key}
    else:
        updates = {_q(c): f"s.{_q(c)}" for c in non_key}
    inserts = {_q(c): f"s.{_q(c)}" for c in plan.columns}
    merge = DeltaTable.forName(spark, target).alias("t").merge(latest.alias("s"), on) \
        .whenMatchedDelete(condition=f"s.{DEL}")
    if updates:
        merge = merge.whenMatchedUpdate(condition=f"NOT s.{DEL}", set=updates)
    merge.whenNotMatchedInsert(condition=f"NOT s.{DEL}", values=inserts).execute()
    new_state = latest.select(*[_q(k) for k in keys], SEQ, DEL)
    if not state_exists:
        new_state.write.format("delta").save(str(state_path))
    else:
        (DeltaTable.forPath(spark, str(state_path)).alias("t").merge(new_state.alias("s"), on)
         .whenMatchedUpdate(set={SEQ: f"s.{SEQ}", DEL: f"s.{DEL}"}).whenNotMatchedInsertAll().execute())
    return n


def apply_scd2(batch: DataFrame, plan: CdcPlan, target: str) -> int:
    """Apply one micro-batch to an SCD type 2 target; returns the number of events applied."""
    cached: list[DataFrame] = []
    try:
        return _apply_scd2(batch, plan, target, cached)
    finally:
        for df in cached:
            df.unpersist()


def _apply_scd2(batch: DataFrame, plan: CdcPlan, target: str, cached: list[DataFrame]) -> int:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    spark = batch.sparkSession
    keys = plan.spec.keys
    kq = [_q(k) for k in keys]
    ev = _cache(plan.events(batch).dropDuplicates([*keys, SEQ, DEL]), cached)
    n = ev.count()
    if n == 0:
        return 0
    touched = ev.select(*kq).distinct()
    stored = DeltaTable.forName(spark, target).toDF().join(touched, [*keys], "left_semi")
    cols = [_q(c) for c in plan.columns]
    old_versions = stored.select(*cols, F.col(START).alias(SEQ), F.lit(False).alias(DEL))
    # Distinct column names on both sides: `stored` joined with itself would make the key
    # condition trivially true.
    starts = stored.select(*[F.col(k).alias(f"__sk{i}") for i, k in enumerate(kq)], F.col(START).alias("__s"))
    ended = stored.where(F.col(END).isNotNull())
    cond = [F.col(k).eqNullSafe(F.col(f"__sk{i}")) for i, k in enumerate(kq)] + [F.col(END) == F.col("__s")]
    old_deletes = (ended.join(starts, cond, "left_anti")
                   .select(*[F.col(c) if c[1:-1] in keys else F.lit(None).alias(c[1:-1]) for c in cols],
                           F.col(END).alias(SEQ), F.lit(True).alias(DEL)))
    old_deletes = old_deletes.select(*[F.col(c).cast(ev.schema[c[1:-1]].dataType) if c[1:-1] not in keys
                                       else F.col(c) for c in cols], SEQ, DEL)
    new_ev = ev.join(old_versions.select(*kq, SEQ).union(old_deletes.select(*kq, SEQ)), [*keys, SEQ], "left_anti")
    events = old_versions.unionByName(old_deletes).unionByName(new_ev)
    history = _cache(_history(events, plan), cached)
    marker = touched.select(*[F.col(k).alias(f"__mk_{i}") for i, k in enumerate(kq)])
    rows = history.select(*cols, START, END, *[F.lit(None).cast(touched.schema[k].dataType).alias(f"__mk_{i}")
                                               for i, k in enumerate(keys)], F.lit(False).alias("__marker"))
    marks = marker.select(*[F.lit(None).cast(history.schema[c[1:-1]].dataType).alias(c[1:-1]) for c in cols],
                          F.lit(None).cast(history.schema[START].dataType).alias(START),
                          F.lit(None).cast(history.schema[END].dataType).alias(END),
                          *[f"__mk_{i}" for i in range(len(keys))], F.lit(True).alias("__marker"))
    source = rows.unionByName(marks)
    on = "s.__marker AND " + " AND ".join(f"t.{k} <=> s.__mk_{i}" for i, k in enumerate(kq))
    values = {c: f"s.{c}" for c in [*cols, START, END]}
    (DeltaTable.forName(spark, target).alias("t").merge(source.alias("s"), on)
     .whenMatchedDelete().whenNotMatchedInsert(condition="NOT s.__marker", values=values).execute())
    return n


def _cache(df: DataFrame, cached: list[DataFrame]) -> DataFrame:
    """``df`` persisted for the rest of the batch (count and MERGE read it once)."""
    df = df.persist()
    cached.append(df)
    return df


def _history(events: DataFrame, plan: CdcPlan) -> DataFrame:
    """Versions (one row each, with __START_AT/__END_AT) from ordered events per key."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = [_q(k) for k in plan.spec.keys]
    w = Window.partitionBy(*keys).orderBy(F.col(SEQ), F.col(DEL))
    tracked = F.struct(*[_q(c) for c in plan.tracked]) if plan.tracked else F.lit(0)
    e = events.withColumn("__tracked", tracked)
    prev_del = F.lag(DEL).over(w)
    prev_tracked = F.lag("__tracked").over(w)
    starts = (~F.col(DEL)) & (prev_del.isNull() | prev_del | ~F.col("__tracked").eqNullSafe(prev_tracked))
    e = e.withColumn("__start", starts)
    boundary = F.when(F.col(DEL) | F.col("__start"), F.col(SEQ))
    following = w.rowsBetween(1, Window.unboundedFollowing)
    e = (e.withColumn("__next", F.min(boundary).over(following))
         .withColumn("__version", F.sum(F.col("__start").cast("int")).over(w.rowsBetween(Window.unboundedPreceding, 0))))
    upserts = e.where(~F.col(DEL) & (F.col("__version") > 0))
    non_key = [c for c in plan.columns if _q(c) not in keys]
    latest = F.max_by(F.struct(*[_q(c) for c in non_key]), F.col(SEQ)) if non_key else None
    aggs = [F.min(SEQ).alias(START), F.min_by("__next", F.col(SEQ)).alias(END)]
    if latest is not None:
        aggs.append(latest.alias("__vals"))
    grouped = upserts.groupBy(*keys, "__version").agg(*aggs)
    return grouped.select(*keys, *[F.col(f"__vals.{_q(c)}").alias(c) for c in non_key], START, END)


def reset_state(state_path: Path) -> None:
    """Forget the SCD1 sequence state (full refresh)."""
    shutil.rmtree(state_path, ignore_errors=True)


def create_target(spark: SparkSession, target: str, schema: Any, properties: dict[str, str],
                  comment: str | None) -> None:
    """Create the (empty) Delta target of a CDC flow if it does not exist yet."""
    if spark.catalog.tableExists(target):
        return
    writer = spark.createDataFrame([], schema).writeTo(target).using("delta")
    for k, v in properties.items():
        writer = writer.tableProperty(k, v)
    if comment:
        writer = writer.tableProperty("comment", comment)
    writer.create()
