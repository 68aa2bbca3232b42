"""Databricks' ``COPY INTO``: load new files from a folder into a Delta table, idempotently.

``COPY INTO t [BY POSITION] FROM { 'path' | (SELECT exprs FROM 'path') } FILEFORMAT = fmt
[PATTERN = 'glob'] [FORMAT_OPTIONS (...)] [COPY_OPTIONS ('mergeSchema' = 'true', 'force' =
'true')]``. Spark has no such statement; it runs here as an ``availableNow`` stream from the
folder into the table whose checkpoint lives in the table's folder, so a file is loaded once
however often the statement runs (``force`` starts over), as ``COPY INTO`` promises. The result
has Databricks' ``num_affected_rows`` and ``num_inserted_rows`` columns.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeloom.runtime.sqltext import balanced, split_top_level, string_value

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_LEAD = r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_IS_COPY = re.compile(_LEAD + r"COPY\s+INTO\s", re.IGNORECASE | re.DOTALL)
_NAME = r"(?:`[^`]+`|[\w]+)(?:\s*\.\s*(?:`[^`]+`|[\w]+))*"
_STRING = r"'(?:[^'\\]|\\.|'')*'"
_STATEMENT = re.compile(
    _LEAD + rf"COPY\s+INTO\s+(?P<target>{_NAME})(?:\s+BY\s+POSITION)?\s+FROM\s+"
    rf"(?:(?P<path>{_STRING})|\(\s*SELECT\s+(?P<select>.+?)\s+FROM\s+(?P<spath>{_STRING})\s*\))"
    r"\s+FILEFORMAT\s*=\s*(?P<format>\w+)(?P<rest>.*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL)
_CLAUSE = re.compile(r"\s*(?P<kind>PATTERN\s*=\s*|FILES\s*=\s*|FORMAT_OPTIONS\s*|COPY_OPTIONS\s*|VALIDATE\b)",
                     re.IGNORECASE)


class CopyIntoError(ValueError):
    """A ``COPY INTO`` statement lakeloom cannot run (the message says which part)."""


@dataclass
class CopyInto:
    """A parsed ``COPY INTO`` statement."""

    target: str
    path: str
    file_format: str
    select: str | None = None
    pattern: str | None = None
    format_options: dict[str, str] = field(default_factory=dict)
    copy_options: dict[str, str] = field(default_factory=dict)


def is_copy_into(sql: str) -> bool:
    """Whether ``sql`` is a ``COPY INTO`` statement."""
    return bool(_IS_COPY.match(sql))


def _unquote(literal: str) -> str:
    return string_value(literal.strip())


def _options(text: str) -> tuple[dict[str, str], str]:
    """``('k' = 'v', ...)`` at the start of ``text``: the options and the text after them."""
    inner, rest = balanced(text, "COPY INTO options")
    out: dict[str, str] = {}
    for item in split_top_level(inner):
        m = re.match(rf"^\s*({_STRING}|\w+)\s*=\s*({_STRING}|[\w.\-]+)\s*$", item, re.DOTALL)
        if not m:
            raise CopyIntoError(f"COPY INTO: cannot read option {item.strip()!r} (expected 'key' = 'value')")
        key, value = (_unquote(g) if g.startswith("'") else g for g in m.groups())
        out[key] = value
    return out, rest


def parse_copy_into(sql: str) -> CopyInto:
    """The parts of a ``COPY INTO`` statement; :class:`CopyIntoError` names what is wrong."""
    m = _STATEMENT.match(sql)
    if not m:
        raise CopyIntoError("COPY INTO: expected COPY INTO <table> FROM '<path>' | (SELECT ... FROM '<path>') "
                            "FILEFORMAT = <format> [PATTERN = '...'] [FORMAT_OPTIONS (...)] [COPY_OPTIONS (...)]")
    spec = CopyInto(target=m.group("target"), path=_unquote(m.group("path") or m.group("spath")),
                    file_format=m.group("format").lower(), select=m.group("select"))
    rest = m.group("rest")
    while rest.strip():
        c = _CLAUSE.match(rest)
        if not c:
            raise CopyIntoError(f"COPY INTO: cannot parse {rest.strip()[:40]!r}")
        kind, rest = c.group("kind").strip().rstrip("=").strip().upper(), rest[c.end():]
        if kind == "PATTERN":
            p = re.match(rf"\s*({_STRING})", rest)
            if not p:
                raise CopyIntoError("COPY INTO: PATTERN needs a quoted glob")
            spec.pattern, rest = _unquote(p.group(1)), rest[p.end():]
        elif kind in ("FORMAT_OPTIONS", "COPY_OPTIONS"):
            opts, rest = _options(rest.lstrip())
            (spec.format_options if kind == "FORMAT_OPTIONS" else spec.copy_options).update(opts)
        else:
            raise CopyIntoError(f"COPY INTO: {kind} is not supported locally (use PATTERN to pick files)")
    return spec


def run_copy_into(spark: SparkSession, sql: str) -> DataFrame:
    """Run a ``COPY INTO`` statement; returns ``num_affected_rows`` and ``num_inserted_rows``."""
    spec = parse_copy_into(sql)
    detail = spark.sql(f"DESCRIBE DETAIL {spec.target}").first()
    if detail is None or str(detail["format"]).lower() != "delta":
        raise CopyIntoError(f"COPY INTO {spec.target}: the target must be a Delta table")
    merge = spec.copy_options.get("mergeSchema", "false").lower() == "true"
    target_schema = spark.table(spec.target).schema
    if not target_schema.fields and not merge:
        raise CopyIntoError(f"COPY INTO {spec.target}: the table has no columns; add COPY_OPTIONS ('mergeSchema' = 'true')")

    reader_options = dict(spec.format_options)
    if spec.pattern:
        reader_options["pathGlobFilter"] = spec.pattern
    infer = dict(reader_options)
    if spec.file_format == "csv":
        infer.setdefault("inferSchema", "true")
    try:
        schema = spark.read.format(spec.file_format).options(**infer).load(spec.path).schema
    except Exception as e:  # noqa: BLE001 - Spark's first line names the problem
        if _is_access_error(e):  # a missing volume or a missing grant fails as Databricks reports it
            raise
        raise CopyIntoError(f"COPY INTO {spec.target}: cannot read {spec.path!r} as {spec.file_format}: "
                            f"{str(e).strip().splitlines()[0]}") from None

    key = hashlib.sha1(f"{spec.path}\0{spec.pattern}\0{spec.file_format}".encode()).hexdigest()[:16]
    checkpoint = f"{str(detail['location']).rstrip('/')}/_copy_into/{key}"
    if spec.copy_options.get("force", "false").lower() == "true":
        jvm: Any = spark._jvm  # type: ignore[attr-defined]
        hpath = jvm.org.apache.hadoop.fs.Path(checkpoint)
        hpath.getFileSystem(spark._jsc.hadoopConfiguration()).delete(hpath, True)  # type: ignore[attr-defined]

    stream = (spark.readStream.format(spec.file_format).schema(schema).options(**reader_options)
              .option("maxFileAge", "36500d").load(spec.path))
    if spec.select:
        view = f"__ll_copy_into_{key}"
        stream.createOrReplaceTempView(view)
        stream = spark.sql(f"SELECT {spec.select} FROM {view}")
    if target_schema.fields:
        stream = _to_target_columns(stream, target_schema, merge, spec.target)
    writer = stream.writeStream.format("delta").option("checkpointLocation", checkpoint)
    if merge:
        writer = writer.option("mergeSchema", "true")
    query = writer.trigger(availableNow=True).toTable(spec.target)
    query.awaitTermination()
    rows = sum(int(p.get("numInputRows", 0)) for p in query.recentProgress)
    return spark.createDataFrame([(rows, rows)], "num_affected_rows long, num_inserted_rows long")


def _is_access_error(e: Exception) -> bool:
    condition = getattr(e, "getCondition", None)
    return callable(condition) and condition() in ("UC_VOLUME_NOT_FOUND", "INSUFFICIENT_PERMISSIONS")


def _to_target_columns(stream: DataFrame, target: Any, merge: bool, name: str) -> DataFrame:
    """Match the files' columns to the table's by name (case-insensitively), cast to the
    table's types; table columns the files lack are null. Columns the table lacks are an
    error unless ``mergeSchema`` adds them."""
    from pyspark.sql import functions as F

    have = {c.lower(): c for c in stream.columns}
    known = {f.name.lower() for f in target.fields}
    extra = [c for c in stream.columns if c.lower() not in known]
    if extra and not merge:
        raise CopyIntoError(f"COPY INTO {name}: the files have columns the table lacks ({', '.join(extra)}); "
                            "add COPY_OPTIONS ('mergeSchema' = 'true') to add them")
    columns = [F.col(have[f.name.lower()]).cast(f.dataType).alias(f.name) if f.name.lower() in have
               else F.lit(None).cast(f.dataType).alias(f.name) for f in target.fields]
    return stream.select(*columns, *(F.col(c) for c in extra))
