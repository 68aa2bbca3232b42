"""``spark_submit_task``: spark-submit runs as a child application of the task, with the
workspace's Delta and catalog settings, its output in the task log."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))

APP = '''
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
spark.sql("CREATE SCHEMA IF NOT EXISTS main.child")
spark.range(int(sys.argv[1])).write.mode("overwrite").saveAsTable("main.child.numbers")
print("child app on", spark.sparkContext.master, "wrote", spark.table("main.child.numbers").count())
'''

JOB = """
name: submit_tasks
tasks:
  - task_key: child
    spark_submit_task: {parameters: ["--conf", "spark.sql.shuffle.partitions=2", "app.py", "{{job.parameters.n}}"]}
  - task_key: broken
    spark_submit_task: {parameters: ["missing_app.py"]}
parameters: [{name: n, default: "7"}]
"""


def test_spark_submit_task_runs_a_child_application_that_sees_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "job.yml").write_text(JOB)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text('spark: {master: "local[1]"}\n')
    proc = subprocess.run([LAKELOOM, "--workspace", str(tmp_path), "run", "job.yml", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "LAKELOOM_DAEMON": "0"})
    run = json.loads(proc.stdout[proc.stdout.index("{"):])
    tasks = {t["task_key"]: t for t in run["tasks"]}
    assert tasks["child"]["state"]["result_state"] == "SUCCESS", tasks["child"]["state"]
    log = (tmp_path / ".lakeloom" / "logs" / str(run["run_id"]) / "child" / "0.log").read_text()
    assert "child app on local[1] wrote 7" in log
    assert (tmp_path / ".lakeloom" / "catalog" / "main" / "child").is_dir()
    broken = tasks["broken"]["state"]
    assert broken["result_state"] == "FAILED"
    assert "spark-submit exited with code" in broken["state_message"] and "missing_app.py" in broken["state_message"]
