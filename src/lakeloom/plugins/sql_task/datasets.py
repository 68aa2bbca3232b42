"""Databricks SQL's standalone streaming tables and materialized views.

On a SQL warehouse (and in notebooks) ``CREATE [OR REFRESH] STREAMING TABLE t AS ... FROM STREAM
read_files(...)`` and ``CREATE [OR REPLACE | OR REFRESH] MATERIALIZED VIEW v AS SELECT ...`` are
plain statements: Databricks backs each with a pipeline of its own. Spark refuses them outside a
pipeline, so lakeloom does what Databricks does: it writes the statement as the one source file of
a pipeline named after the table (``.lakeloom/sql_datasets/<catalog.schema.table>/``) and runs an
update of it. The pipeline's storage is kept, so a streaming table reads only new input the next
time, as on Databricks. ``:name`` markers are bound as SQL literals into the stored definition
(Databricks binds them when the statement runs, too).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from lakeloom.plugins.sql_task.splitter import _MARKER, scan

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakeloom.plugin_api import TaskContext

_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_PART = r"(?:`(?:[^`]|``)+`|[A-Za-z_][\w]*)"
_CREATE = re.compile(
    r"CREATE\s+(?:OR\s+(?P<or>REFRESH|REPLACE)\s+)?(?P<kind>MATERIALIZED\s+VIEW|STREAMING\s+TABLE)\s+"
    r"(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>" + _PART + r"(?:\s*\.\s*" + _PART + r"){0,2})", re.IGNORECASE)


_REFRESH = re.compile(
    r"REFRESH\s+(?P<kind>MATERIALIZED\s+VIEW|STREAMING\s+TABLE)\s+(?P<name>" + _PART + r"(?:\s*\.\s*" + _PART
    + r"){0,2})(?:\s+(?P<full>FULL))?\s*$", re.IGNORECASE)


class PipelineDatasetError(RuntimeError):
    """A standalone streaming table or materialized view could not be created or refreshed."""


def pipeline_dataset(statement: str) -> re.Match[str] | None:
    """The match of a ``CREATE ... | REFRESH STREAMING TABLE | MATERIALIZED VIEW`` statement, else None."""
    start = _LEADING_COMMENTS.match(statement)
    at = start.end() if start else 0
    return _CREATE.match(statement, at) or _REFRESH.match(statement, at)


def _parts(name: str) -> list[str]:
    return [p[1:-1].replace("``", "`") if p.startswith("`") else p
            for p in re.findall(_PART, name)]


def _literal(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def bind_literals(sql: str, args: Mapping[str, Any]) -> str:
    """``sql`` with each ``:name`` marker (outside strings, comments and identifiers) replaced
    by its value as a SQL string literal."""
    out, last = [], 0
    for kind, s, e in scan(sql):
        if kind != "code":
            continue
        for m in _MARKER.finditer(sql, s, e):
            if m.group(1) in args and not (m.start() > 0 and sql[m.start() - 1] == ":"):
                out.append(sql[last:m.start()])
                out.append(_literal(args[m.group(1)]))
                last = m.end()
    out.append(sql[last:])
    return "".join(out)


def run_pipeline_dataset(ctx: TaskContext, statement: str, match: re.Match[str],
                         args: Mapping[str, Any] | None = None) -> DataFrame:
    """Create or refresh the dataset ``statement`` defines (or ``REFRESH [FULL]`` one created so)
    through a one-dataset pipeline update in ``ctx``'s session, and return an empty result (what
    the statement returns on Databricks)."""
    from pyspark.sql.types import StructType

    spark = ctx.spark
    parts = _parts(match.group("name"))
    catalog = parts[-3] if len(parts) == 3 else spark.catalog.currentCatalog()
    schema = parts[-2] if len(parts) >= 2 else spark.catalog.currentDatabase()
    table = parts[-1]
    full = f"{catalog}.{schema}.{table}".lower()
    empty = spark.createDataFrame([], StructType([]))
    folder = ctx.workspace.state_dir / "sql_datasets" / full
    source = folder / "definition.sql"
    kind = " ".join(match.group("kind").upper().split())
    if match.re is _REFRESH:
        if not source.exists():
            raise PipelineDatasetError(f"REFRESH {kind} {full}: it was not created by a CREATE {kind} statement "
                                       "in this workspace (no stored definition)")
        return _update(ctx, full, catalog, schema, source, kind, full_refresh=bool(match.group("full")))
    exists = spark.catalog.tableExists(f"`{catalog}`.`{schema}`.`{table}`")
    if exists and not match.group("or"):
        if match.group("ine"):
            return empty
        raise PipelineDatasetError(f"[TABLE_OR_VIEW_ALREADY_EXISTS] {full} already exists: use CREATE OR "
                                   f"{'REFRESH' if 'STREAMING' in match.group('kind').upper() else 'REPLACE'} "
                                   "to update it")
    definition = (f"CREATE {kind} `{table.replace('`', '``')}`"
                  + bind_literals(statement[match.end():], args or {}))
    folder.mkdir(parents=True, exist_ok=True)
    source.write_text(definition + "\n", encoding="utf-8")
    return _update(ctx, full, catalog, schema, source, kind,
                   full_refresh=(match.group("or") or "").upper() == "REPLACE")


def _update(ctx: TaskContext, full: str, catalog: str, schema: str, source: Path, kind: str, *,
            full_refresh: bool) -> DataFrame:
    from pyspark.sql.types import StructType

    from lakeloom.pipelines.runner import PipelineUpdateFailed, UpdateOptions, iter_results, run_update
    from lakeloom.pipelines.spec import LoadedPipeline, PipelineSpec
    from lakeloom.spec.loader import LineMap

    spark = ctx.spark
    spec = PipelineSpec.model_validate({"name": full, "catalog": catalog, "schema": schema,
                                        "libraries": [{"file": {"path": str(source)}}]})
    loaded = LoadedPipeline(spec, source, f"sql_dataset_{full}", LineMap())
    try:
        result = run_update(spark, loaded, ctx.workspace, UpdateOptions(full_refresh=full_refresh),
                            cancel=ctx.cancel_event)
    except PipelineUpdateFailed as e:
        raise PipelineDatasetError(str(e)) from None
    for d in iter_results(result):
        print(f"{kind.lower()} {full}: {d.status}, {d.rows_written} rows written")
    return spark.createDataFrame([], StructType([]))
