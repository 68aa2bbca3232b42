"""Auto Loader (``spark.readStream.format("cloudFiles")``) on Spark's file stream source.

``cloudFiles.format`` picks the real source (json, csv, parquet, ...). Without an explicit
schema the schema is inferred once from the files present and kept as JSON under
``cloudFiles.schemaLocation`` (inside a pipeline the default is the pipeline's storage), so
later updates read new files with the same schema, as Auto Loader does. As in Auto Loader,
JSON and CSV columns are inferred as strings unless ``cloudFiles.inferColumnTypes`` is true,
``cloudFiles.schemaHints`` overrides column types, and unparsable rows land in
``_rescued_data``. Directories are listed recursively. The file source keeps its own
checkpointed list of processed files, which is what makes the next update incremental.

Outside pipelines (notebooks, scripts) the same reader serves every task
(:mod:`lakeloom.runtime.spark_patches` installs it with the run's Spark session), so
``readStream.format("cloudFiles")`` + ``trigger(availableNow=True)`` jobs run as written; the
schema is kept under ``cloudFiles.schemaLocation`` there too.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from lakeloom.runtime.spark_patches import ReadRouter

RESCUED = "_rescued_data"
_MAPPED = {"maxfilespertrigger": "maxFilesPerTrigger", "maxbytespertrigger": "maxBytesPerTrigger",
           "maxfileage": "maxFileAge", "partitioncolumns": None, "usenotifications": None,
           "includeexistingfiles": None, "validateoptions": None, "backfillinterval": None,
           "schemaevolutionmode": None, "allowoverwrites": None}


class AutoLoaderError(ValueError):
    """An Auto Loader stream cannot be set up (bad option, no files to infer a schema from)."""


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
    plain.setdefault("recursiveFileLookup", "true")
    for key, value in cf.items():
        if key.lower() not in _MAPPED:
            raise AutoLoaderError(f"Auto Loader stream on {path!r}: option cloudFiles.{key} is not supported")
        if _MAPPED[key.lower()]:
            plain[_MAPPED[key.lower()]] = value
    if schema is None:
        schema = _stored_schema(location) or _infer(spark, fmt, path, plain, infer_types, hints)
        if location and (router is None or not router.dry_run):  # a dry run writes nothing
            _store_schema(location, schema)
    if fmt.lower() in ("json", "csv") and RESCUED in _field_names(spark, schema):
        plain.setdefault("columnNameOfCorruptRecord", RESCUED)
    # Not "cloudFiles": the patched reader methods pass straight through to Spark's own.
    reader = spark.readStream.format(fmt).schema(schema)
    for k, v in plain.items():
        reader = reader.option(k, v)
    return reader.load(path)


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


def _infer(spark: SparkSession, fmt: str, path: str, plain: dict[str, str], infer_types: bool,
           hints: str | None) -> StructType:
    from pyspark.sql.types import StringType, StructField, StructType

    opts = dict(plain)
    opts.pop("maxFilesPerTrigger", None)
    opts.pop("maxBytesPerTrigger", None)
    if fmt.lower() == "json" and not infer_types:
        opts.setdefault("primitivesAsString", "true")
    if fmt.lower() in ("csv", "xml"):  # as Auto Loader: JSON, CSV and XML columns are strings by default
        opts.setdefault("inferSchema", "true" if infer_types else "false")
    if not _local_file(path).exists() and "://" not in path:
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
        for k in ("schemaHints", "schemaLocation", "maxFilesPerTrigger", "maxBytesPerTrigger"):
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
