"""Auto Loader (``spark.readStream.format("cloudFiles")``) on Spark's file stream source.

``cloudFiles.format`` picks the real source (json, csv, parquet, ...). Without an explicit
schema the schema is inferred once from the files present and kept as JSON under
``cloudFiles.schemaLocation`` (inside a pipeline the default is the pipeline's storage), so
later updates read new files with the same schema, as Auto Loader does. As in Auto Loader,
JSON and CSV columns are inferred as strings unless ``cloudFiles.inferColumnTypes`` is true,
``cloudFiles.schemaHints`` overrides column types, and unparsable rows land in
``_rescued_data``. Directories are listed recursively. The file source keeps its own
checkpointed list of processed files, which is what makes the next update incremental.

Schema evolution (``cloudFiles.schemaEvolutionMode``, local files): when a stream starts, the
files that arrived since the schema was last checked are inferred; columns the stored schema
lacks are handled as Auto Loader's mode says. ``addNewColumns`` (the default without a given
schema) merges them at the end of the stored schema. Inside a pipeline the update then goes on
with the merged schema (Databricks restarts the stream itself); a notebook or script stream
fails with ``UnknownFieldException`` naming them, as on Databricks, and the next run reads them.
New JSON files are checked by parsing their lines in Python (past the first 2 MB of an update,
one line in 20), CSV files by their header; only a new name makes Spark infer the files.
``failOnNewColumns`` fails without evolving; ``rescue`` and ``none`` (the default with a given
schema) keep the schema. Columns never change type.

Outside pipelines (notebooks, scripts) the same reader serves every task
(:mod:`lakeloom.runtime.spark_patches` installs it with the run's Spark session), so
``readStream.format("cloudFiles")`` + ``trigger(availableNow=True)`` jobs run as written; the
schema is kept under ``cloudFiles.schemaLocation`` there too.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.runtime.autoloader_files import NewFiles, column_names, data_files
from lakeloom.runtime.autoloader_rescue import RESCUED, json_rescuing

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from lakeloom.runtime.spark_patches import ReadRouter

_MAPPED = {"maxfilespertrigger": "maxFilesPerTrigger", "maxbytespertrigger": "maxBytesPerTrigger",
           "maxfileage": "maxFileAge", "partitioncolumns": None, "usenotifications": None,
           "includeexistingfiles": None, "validateoptions": None, "backfillinterval": None,
           "schemaevolutionmode": None, "allowoverwrites": None}


class AutoLoaderError(ValueError):
    """An Auto Loader stream cannot be set up (bad option, no files to infer a schema from)."""


class UnknownFieldException(AutoLoaderError):
    """New columns in newly arrived files (``addNewColumns``: the stored schema now has them, so
    the next run reads them; ``failOnNewColumns``: the schema is left as it was)."""


_EVOLUTION_MODES = ("addnewcolumns", "rescue", "failonnewcolumns", "none")


def cloudfiles_stream(spark: SparkSession, path: str, options: dict[str, str],
                      schema: StructType | str | None = None, router: ReadRouter | None = None) -> DataFrame:
    """The streaming DataFrame for ``readStream.format("cloudFiles").options(...).load(path)``.

    Inside a pipeline update (``router``: the update's read router) paths map the pipeline's
    way and the schema defaults to the pipeline's storage.
    """
    local = router.local_path if router is not None else _local_outside_pipeline
    path = local(path)
    cf = {k.split(".", 1)[1]: str(v) for k, v in options.items() if k.lower().startswith("cloudfiles.")}
    plain = {k: str(v) for k, v in options.items() if not k.lower().startswith("cloudfiles.")}
    fmt = cf.pop("format", None)
    if not fmt:
        raise AutoLoaderError(f"Auto Loader stream on {path!r}: option cloudFiles.format is required")
    location = cf.pop("schemaLocation", None)
    if location:
        location = local(location) if router is not None else _local_outside_pipeline(location, write=True)
    elif router is not None:
        location = router.autoloader_schema_location()
    infer_types = cf.pop("inferColumnTypes", "false").lower() == "true"
    hints = cf.pop("schemaHints", None)
    mode = cf.pop("schemaEvolutionMode", "none" if schema is not None else "addNewColumns").lower()
    if mode not in _EVOLUTION_MODES:
        raise AutoLoaderError(f"Auto Loader stream on {path!r}: cloudFiles.schemaEvolutionMode {mode!r} is not one "
                              "of addNewColumns, rescue, failOnNewColumns, none")
    plain.setdefault("recursiveFileLookup", "true")
    _clean_source(cf, plain, path, local if router is not None else lambda p: _local_outside_pipeline(p, write=True))
    for key, value in cf.items():
        if key.lower() not in _MAPPED:
            raise AutoLoaderError(f"Auto Loader stream on {path!r}: option cloudFiles.{key} is not supported")
        if _MAPPED[key.lower()]:
            plain[_MAPPED[key.lower()]] = value
    if schema is None:
        writes = bool(location) and (router is None or not router.dry_run)  # a dry run writes nothing
        stored = _stored_schema(location)
        if stored is None:
            sample = _inference_sample(spark, path)
            evolving = bool(sample) and bool(location) and mode in ("addnewcolumns", "failonnewcolumns")
            schema = _infer(spark, fmt, sample or path, plain, infer_types, hints)
            if writes:
                _store_schema(location, schema)
                _new_files(location, path).checked(sample if evolving else None)
            if evolving:
                # the files past the sample: on Databricks the stream meets their new columns
                schema = _evolve(spark, fmt, path, plain, infer_types, hints, schema, location, mode,
                                 in_pipeline=router is not None, writes=writes)
        else:
            schema = stored
            if location and mode in ("addnewcolumns", "failonnewcolumns"):
                schema = _evolve(spark, fmt, path, plain, infer_types, hints, stored, location, mode,
                                 in_pipeline=router is not None, writes=writes)
    if mode == "rescue" and fmt.lower() == "json" and plain.get("multiLine", plain.get("multiline", "")).lower() != "true":
        return json_rescuing(spark, path, plain, schema)
    if fmt.lower() in ("json", "csv") and RESCUED in _field_names(spark, schema):
        plain.setdefault("columnNameOfCorruptRecord", RESCUED)
    # Not "cloudFiles": the patched reader methods pass straight through to Spark's own.
    reader = spark.readStream.format(fmt).schema(schema)
    for k, v in plain.items():
        reader = reader.option(k, v)
    return reader.load(path)


def _clean_source(cf: dict[str, str], plain: dict[str, str], path: str, local: Any) -> None:
    """``cloudFiles.cleanSource`` (``MOVE`` to ``cleanSource.moveDestination``, ``DELETE``, ``OFF``)
    as Spark's file source option ``cleanSource`` (``archive`` to ``sourceArchiveDir``,
    ``delete``, ``off``). Spark cleans a file once the batch after the one that read it commits;
    ``cleanSource.retentionDuration`` (Databricks waits that long, 30 days by default) is not
    honoured."""
    keys = {k.lower(): k for k in cf}
    mode = cf.pop(keys["cleansource"], None) if "cleansource" in keys else None
    destination = cf.pop(keys["cleansource.movedestination"], None) if "cleansource.movedestination" in keys else None
    if "cleansource.retentionduration" in keys:
        cf.pop(keys["cleansource.retentionduration"])
    if mode is None or mode.upper() == "OFF":
        return
    if mode.upper() == "DELETE":
        plain["cleanSource"] = "delete"
    elif mode.upper() == "MOVE":
        if not destination:
            raise AutoLoaderError(f"Auto Loader stream on {path!r}: cloudFiles.cleanSource MOVE needs "
                                  "cloudFiles.cleanSource.moveDestination")
        plain["cleanSource"] = "archive"
        plain["sourceArchiveDir"] = local(destination)
    else:
        raise AutoLoaderError(f"Auto Loader stream on {path!r}: cloudFiles.cleanSource {mode!r} is not one of "
                              "MOVE, DELETE, OFF")


def _local_outside_pipeline(path: str, *, write: bool = False) -> str:
    """Databricks paths (``/Volumes/...``, ``dbfs:/...``, ``/dbfs/...``) as the local files
    ``dbutils.fs`` uses, for Auto Loader in a notebook or script task (a pipeline maps its own).
    A volume path needs its volume (``[UC_VOLUME_NOT_FOUND]``)."""
    if path.startswith(("/Volumes/", "dbfs:", "/dbfs/")):
        from lakeloom.runtime.dbutils.fs import to_local_path

        return str(to_local_path(path, write=write))
    return path


def _field_names(spark: SparkSession, schema: StructType | str) -> list[str]:
    from pyspark.sql.types import StructType

    if isinstance(schema, StructType):
        return schema.fieldNames()
    return spark.createDataFrame([], schema).columns


def _infer(spark: SparkSession, fmt: str, path: str | list[str], plain: dict[str, str], infer_types: bool,
           hints: str | None) -> StructType:
    from pyspark.sql.types import StringType, StructField, StructType

    opts = dict(plain)
    opts.pop("maxFilesPerTrigger", None)
    opts.pop("maxBytesPerTrigger", None)
    if fmt.lower() == "json" and not infer_types:
        opts.setdefault("primitivesAsString", "true")
    if fmt.lower() in ("csv", "xml"):  # as Auto Loader: JSON, CSV and XML columns are strings by default
        opts.setdefault("inferSchema", "true" if infer_types else "false")
    if isinstance(path, str) and not _local_file(path).exists() and "://" not in path:
        raise AutoLoaderError(f"Auto Loader cannot infer a schema: {path!r} does not exist "
                              "(give a schema, or land files first)")
    try:
        schema = spark.read.format(fmt).options(**opts).load(path).schema
    except Exception as e:  # noqa: BLE001 - Spark's message names the problem
        raise AutoLoaderError(f"Auto Loader cannot infer a schema from {path!r} ({fmt}): "
                              f"{str(e).strip().splitlines()[0]}") from None
    fields = [f for f in schema.fields if f.name != "_corrupt_record"]
    if not fields:
        raise AutoLoaderError(f"Auto Loader cannot infer a schema from {path!r}: no {fmt} data found")
    if hints:
        fields = _apply_hints(spark, fields, hints)
    if fmt.lower() in ("json", "csv") and RESCUED not in [f.name for f in fields]:
        fields.append(StructField(RESCUED, StringType(), True))
    return StructType(fields)


#: Databricks' setting for how many files the first schema inference reads (default 1000).
SAMPLE_FILES_CONF = "spark.databricks.cloudFiles.schemaInference.sampleSize.numFiles"


def _inference_sample(spark: SparkSession, path: str) -> list[str] | None:
    """The first files (by name) that the first inference reads when there are more than
    ``SAMPLE_FILES_CONF`` of them, as Auto Loader samples; None when it reads them all."""
    try:
        limit = int(spark.conf.get(SAMPLE_FILES_CONF, "1000") or "1000")
    except ValueError:
        raise AutoLoaderError(f"{SAMPLE_FILES_CONF} must be a whole number of files") from None
    files = data_files(_local_file(path))
    return files[:max(limit, 1)] if len(files) > max(limit, 1) else None


def _evolve(spark: SparkSession, fmt: str, path: str, plain: dict[str, str], infer_types: bool,
            hints: str | None, stored: StructType, location: str, mode: str, *, in_pipeline: bool,
            writes: bool) -> StructType:
    """The stored schema, with the new columns of files that arrived since it was last checked
    merged at its end (before ``_rescued_data``) when the mode allows (see the module doc)."""
    from pyspark.sql.types import StructType

    new_files = _new_files(location, path)
    files = new_files.pending()
    if not files:
        return stored
    known = {f.name.lower() for f in stored.fields}
    seen = column_names(fmt, files, plain)
    if seen is not None and not {n.lower() for n in seen} - known:
        added = []  # no new name: no Spark job (the common case, every update)
    else:
        added = [f for f in _infer(spark, fmt, files, plain, infer_types, hints).fields
                 if f.name.lower() not in known and f.name != RESCUED]
    if not added:
        if writes:
            new_files.checked(files)
        return stored
    names = ", ".join(f.name for f in added)
    if mode == "failonnewcolumns":
        raise UnknownFieldException(
            f"Auto Loader stream on {path!r}: new columns {names} in files that arrived since the schema in "
            f"{location} was inferred, and cloudFiles.schemaEvolutionMode is failOnNewColumns (give a schema "
            "with them, or remove the files)")
    rescued = [f for f in stored.fields if f.name == RESCUED]
    merged = StructType([f for f in stored.fields if f.name != RESCUED] + added + rescued)
    if not writes:
        return merged
    _store_schema(location, merged)
    new_files.checked(files)
    if not in_pipeline:
        raise UnknownFieldException(
            f"Auto Loader stream on {path!r}: encountered unknown fields {names}; the schema in {location} now has "
            "them, so the next run of this stream reads them (as on Databricks, where the stream stops and is "
            "restarted)")
    return merged


def _local_file(path: str) -> Path:
    """The local file a ``file:`` URI (``file:/x``, ``file:///x``) or plain path names."""
    if path.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(path).path))
    return Path(path)


def _apply_hints(spark: SparkSession, fields: list[Any], hints: str) -> list[Any]:
    from pyspark.sql.types import StructField

    hinted = spark.createDataFrame([], hints).schema
    by_name = {f.name.lower(): i for i, f in enumerate(fields)}
    out = list(fields)
    for h in hinted.fields:
        i = by_name.get(h.name.lower())
        if i is None:
            out.append(StructField(h.name, h.dataType, True))
        else:
            out[i] = StructField(out[i].name, h.dataType, True)
    return out


def _new_files(location: str, path: str) -> NewFiles:
    return NewFiles(_schema_file(location).parent, _local_file(path))


def _schema_file(location: str) -> Path:
    return Path(location.removeprefix("file:")) / "_schemas" / "schema.json"


def _stored_schema(location: str | None) -> StructType | None:
    from pyspark.sql.types import StructType

    if not location or not _schema_file(location).is_file():
        return None
    return StructType.fromJson(json.loads(_schema_file(location).read_text()))


def _store_schema(location: str, schema: StructType | str) -> None:
    from pyspark.sql.types import StructType

    if not isinstance(schema, StructType):
        return
    f = _schema_file(location)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(schema.jsonValue()))


_METADATA_REF = re.compile(r"(?<![\w`])`?_metadata`?\s*\.", re.IGNORECASE)


def metadata_view(df: DataFrame, sql: str) -> DataFrame:
    """``df`` (a ``read_files`` source about to become a temporary view of ``sql``) with its
    ``_metadata`` column made a real one when ``sql`` reads ``_metadata.<field>``: Spark's views
    hide metadata columns, where Databricks' ``read_files`` exposes them. Drop it from the
    query's result with :func:`without_metadata` (``SELECT *`` does not return it there)."""
    if _METADATA_REF.search(sql) and "_metadata" not in df.columns:
        return df.select("*", "_metadata")
    return df


def without_metadata(df: DataFrame) -> DataFrame:
    """The query result without a ``_metadata`` column that :func:`metadata_view` added."""
    return df.drop("_metadata") if "_metadata" in df.columns else df


def files_dataframe(spark: SparkSession, streaming: bool, path: str, options: dict[str, str],
                    router: ReadRouter | None = None) -> DataFrame:
    """``read_files(path, format => ..., ...)`` (batch) or ``STREAM read_files(...)`` (Auto Loader)."""
    opts = dict(options)
    fmt = opts.pop("format", None)
    schema = opts.pop("schema", None)
    if fmt is None:
        suffix = Path(path).suffix.lstrip(".").lower()
        fmt = suffix if suffix in ("json", "csv", "parquet", "orc", "avro", "text") else None
    if fmt is None:
        raise AutoLoaderError(f"read_files({path!r}): give format => 'json' | 'csv' | 'parquet' | ...")
    if streaming:
        cf = {"cloudFiles.format": fmt, "cloudFiles.inferColumnTypes": opts.pop("inferColumnTypes", "true")}
        for k in ("schemaHints", "schemaLocation", "schemaEvolutionMode", "maxFilesPerTrigger", "maxBytesPerTrigger"):
            if k in opts:
                cf[f"cloudFiles.{k}"] = opts.pop(k)
        return cloudfiles_stream(spark, path, {**cf, **opts}, schema, router)
    local = router.local_path(path) if router is not None else path
    opts.pop("inferColumnTypes", None)
    if fmt == "csv":
        opts.setdefault("inferSchema", "true")
    reader = spark.read.format(fmt).options(**opts)
    if schema:
        reader = reader.schema(schema)
    return reader.load(local)
