"""``model_inference_task``: batch-score a catalog table with a registered model.

``{model: "models:/main.ml.churn@champion", input_table, output_table, mode, merge_keys,
result_column}``. The alias is resolved to a version once, at the start, so every row is
scored by the same version and the task records which (task value ``model_version``).
Scoring is ``mlflow.pyfunc.spark_udf`` on the run's shared session; its Python workers run
the project's interpreter (the session sets ``spark.pyspark.python``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeloom.plugins.ml import store as ws_store
from lakeloom.plugins.ml.promotion import MlTaskError
from lakeloom.plugins.ml.registry import model_location, pin_version
from lakeloom.plugins.ml.settings import ModelInferenceTask
from lakeloom.plugin_api import TaskOutput

KIND = "model_inference_task"

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakeloom.plugin_api import TaskContext


def feature_columns(model_uri: str, df: DataFrame, settings: ModelInferenceTask) -> list[str]:
    """The input columns: configured, else the signature's input names, else every column."""
    if settings.feature_columns:
        return list(settings.feature_columns)
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    names = signature.inputs.input_names() if signature is not None and signature.inputs is not None else []
    named = [n for n in names if isinstance(n, str)]
    return named or [c for c in df.columns if c != settings.result_column]


def score(spark: SparkSession, model_uri: str, df: DataFrame, columns: list[str], result_column: str,
          result_type: str = "double") -> DataFrame:
    """``df`` with ``result_column`` = the model's prediction (``mlflow.pyfunc.spark_udf``)."""
    import mlflow.pyfunc

    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result_type, env_manager="local")
    return df.withColumn(result_column, udf(*columns))


def write(spark: SparkSession, scored: DataFrame, settings: ModelInferenceTask) -> dict[str, Any]:
    """Write ``scored`` into the Delta ``output_table``; returns the commit's operation metrics."""
    from delta.tables import DeltaTable

    out = settings.output_table
    if settings.mode == "merge" and spark.catalog.tableExists(out):
        cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in settings.merge_keys)
        (DeltaTable.forName(spark, out).alias("t").merge(scored.alias("s"), cond)
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    else:
        writer = scored.write.format("delta").mode("append" if settings.mode == "append" else "overwrite")
        if settings.mode != "append":
            writer = writer.option("overwriteSchema", "true")
        writer.saveAsTable(out)
    last = DeltaTable.forName(spark, out).history(1).select("operation", "operationMetrics").first()
    return {"operation": last["operation"], **{k: v for k, v in (last["operationMetrics"] or {}).items()}}


def run_inference(ctx: TaskContext, settings: ModelInferenceTask) -> TaskOutput:
    """Score ``input_table`` into ``output_table``; task values ``model_version`` and ``model_uri``."""
    from mlflow.exceptions import MlflowException

    registry = ws_store.activate(ctx.workspace)
    try:
        pinned, name, version = pin_version(settings.model, registry)
    except (MlflowException, LookupError) as e:
        raise MlTaskError(ctx, "model", f"cannot resolve {settings.model}: {e}", KIND) from e
    spark = ctx.spark
    if not spark.catalog.tableExists(settings.input_table):
        raise MlTaskError(ctx, "input_table", f"table {settings.input_table} does not exist", KIND)
    df = spark.table(settings.input_table)
    columns = feature_columns(model_location(registry, pinned), df, settings)
    missing = [c for c in columns + settings.merge_keys if c not in df.columns]
    if missing:
        raise MlTaskError(ctx, "feature_columns" if settings.feature_columns else "input_table",
                          f"{settings.input_table} has no column(s) {', '.join(missing)} (it has "
                          f"{', '.join(df.columns)})", KIND)
    # Scored from the version's own storage, so the process's current MLflow URIs (which
    # code in another task may have changed) cannot send the workers elsewhere.
    location = model_location(registry, pinned)
    metrics = write(spark, score(spark, location, df, columns, settings.result_column, settings.result_type),
                    settings)
    if version is not None:
        ctx.task_values.set("model_version", version)
    ctx.task_values.set("model_uri", pinned)
    print(f"scored {settings.input_table} with {pinned} into {settings.output_table} ({settings.mode})")
    return TaskOutput(output={"ml_output": {
        "model": settings.model, "model_uri": pinned, "registered_model": name, "model_version": version,
        "input_table": settings.input_table, "output_table": settings.output_table, "mode": settings.mode,
        "write_metrics": metrics}})
