"""Auto Loader's ``rescue`` schema evolution mode for JSON lines: the schema's columns, and
what does not fit them in ``_rescued_data``. See :mod:`lakeloom.runtime.autoloader`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

RESCUED = "_rescued_data"


def json_rescuing(spark: SparkSession, path: str, plain: dict[str, str], schema: StructType | str) -> DataFrame:
    """JSON lines read with ``schemaEvolutionMode`` ``rescue``: the schema's columns, and in
    ``_rescued_data`` a JSON object of the fields the schema lacks or whose value does not fit
    its type, with ``_file_path``, as Auto Loader rescues them (a line that is not a JSON object
    is rescued whole). Read through Spark's text source, so ``_metadata`` still works."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType

    struct = schema if isinstance(schema, StructType) else spark.createDataFrame([], schema).schema
    fields = [f for f in struct.fields if f.name != RESCUED]
    data = StructType(fields)
    options = {k: v for k, v in plain.items() if k in ("recursiveFileLookup", "maxFilesPerTrigger", "maxBytesPerTrigger",
                                                      "maxFileAge", "pathGlobFilter", "modifiedAfter", "modifiedBefore",
                                                      "encoding")}
    parse = {k: v for k, v in plain.items() if k not in options and k != "columnNameOfCorruptRecord"}
    reader = spark.readStream.format("text")
    for k, v in options.items():
        reader = reader.option(k, v)
    raw = reader.load(path)
    row, kv = F.from_json("value", data, parse), F.from_json("value", "map<string,string>")
    parsed = raw.select(row.alias("_r"), kv.alias("_kv"), "value", F.col("_metadata.file_path").alias("_fp"))
    known = [f.name for f in fields]
    # each schema column as text, to find values present in the line but null once typed
    def as_text(f: Any) -> Any:
        value = F.col(f"_r.`{f.name}`")
        return F.to_json(value) if isinstance(f.dataType, (StructType, ArrayType, MapType)) else value.cast("string")

    typed = F.create_map(*[x for f in fields for x in (F.lit(f.name), as_text(f))]) if fields else None
    if typed is not None:
        rescued = F.map_filter("_kv", lambda k, v: ~k.isin(known) | (v.isNotNull() & F.element_at(typed, k).isNull()))
    else:
        rescued = F.col("_kv")
    with_file = F.map_concat(rescued, F.create_map(F.lit("_file_path"), F.col("_fp")))
    rescue = (F.when(F.col("_kv").isNull() & (F.trim("value") != ""), F.col("value"))
              .when(F.size(rescued) > 0, F.to_json(with_file)))
    out = [F.col(f"_r.`{n}`").alias(n) for n in known]
    if RESCUED in struct.fieldNames():
        out.append(rescue.alias(RESCUED))
    return parsed.select(*out)
