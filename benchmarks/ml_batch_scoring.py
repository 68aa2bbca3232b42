"""Batch scoring of 1,000,000 rows: `model_inference_task` vs the same `mlflow.pyfunc.spark_udf`
written by hand (read the table, add the prediction column, write a Delta table), on the same
Spark session and model, in the same run. Goal: task / by-hand <= 1.10.

    .venv/bin/python benchmarks/ml_batch_scoring.py [--rows 1000000] [--repeat 2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ll-scoring-bench-"))
    (root / "conf").mkdir()
    (root / "conf" / "lakeloom.yml").write_text(yaml.safe_dump({"spark": {"master": "local[2]"}}))

    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from lakeloom.config import load_workspace
    from lakeloom.engine.api import Engine
    from lakeloom.plugins.ml.registry import model_location
    from lakeloom.plugins.ml.store import prepare

    ws = load_workspace(root)
    uri = prepare(ws)
    mlflow.set_tracking_uri(uri)
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.rand(2000, 3), columns=["f1", "f2", "f3"])
    model = LogisticRegression().fit(X, (X.f1 + X.f2 > 1).astype(int))
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, model.predict(X)),
                                 registered_model_name="main.bench.scorer")
    mlflow.MlflowClient(uri, uri).set_registered_model_alias("main.bench.scorer", "champion", "1")

    engine = Engine.open(ws)
    spark = engine.spark()
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.bench")
    spark.range(args.rows).selectExpr("id", "rand(1) AS f1", "rand(2) AS f2", "rand(3) AS f3") \
        .write.format("delta").mode("overwrite").saveAsTable("main.bench.features")
    job = root / "score.yml"
    job.write_text(yaml.safe_dump({"name": "score", "tasks": [{"task_key": "score", "model_inference_task": {
        "model": "models:/main.bench.scorer@champion", "input_table": "main.bench.features",
        "output_table": "main.bench.scored_task", "result_column": "prediction"}}]}))

    def by_hand() -> float:
        t0 = time.perf_counter()
        udf = mlflow.pyfunc.spark_udf(spark, model_location(uri, "models:/main.bench.scorer@champion"),
                                      result_type="double", env_manager="local")
        spark.table("main.bench.features").withColumn("prediction", udf("f1", "f2", "f3")) \
            .write.format("delta").mode("overwrite").option("overwriteSchema", "true") \
            .saveAsTable("main.bench.scored_hand")
        return time.perf_counter() - t0

    def task() -> float:
        t0 = time.perf_counter()
        run = engine.submit(str(job))
        assert run["state"]["result_state"] == "SUCCESS", run["state"]
        return time.perf_counter() - t0

    by_hand()  # warm-up: Python workers, model load
    hand, tasks = [], []
    for _ in range(args.repeat):
        hand.append(by_hand())
        tasks.append(task())
    assert spark.table("main.bench.scored_task").count() == args.rows
    h, t = statistics.median(hand), statistics.median(tasks)
    print(f"rows {args.rows:,}  by hand (spark_udf): {h:6.1f} s  {['%.1f' % x for x in hand]}")
    print(f"rows {args.rows:,}  model_inference_task: {t:6.1f} s  {['%.1f' % x for x in tasks]}")
    print(f"ratio task/by-hand: {t / h:.2f}  (goal <= 1.10)")
    engine.stop_spark()


if __name__ == "__main__":
    main()
