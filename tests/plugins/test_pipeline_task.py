"""pipeline_task through the engine (a bundle's pipeline by key, datasets read by a later
task, failure output), static validation without a JVM, and the ``lakeloom pipeline`` CLI."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakeloom.cli.main import cli
from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.engine.validate import validate_file
from lakeloom.plugin_manager import build_plugin_manager

BUNDLE = """
resources:
  jobs:
    nightly:
      name: nightly
      tasks:
        - task_key: refresh
          pipeline_task: {pipeline_id: numbers}
        - task_key: check
          depends_on: [{task_key: refresh}]
          sql_task: {query: {query: "SELECT count(*) AS n, sum(id) AS s FROM main.ptask.evens"}}
        - task_key: strict
          pipeline_task: {pipeline: strict.pipeline.yml, full_refresh: true}
  pipelines:
    numbers:
      catalog: main
      schema: ptask
      libraries: [{file: {path: numbers.py}}]
      configuration: {numbers.limit: "10"}
      storage: .lakeloom/pipelines/numbers-storage
"""
NUMBERS = """
from pyspark import pipelines as dp

@dp.materialized_view
@dp.expect_or_drop("even", "id % 2 = 0")
def evens():
    return spark.range(int(spark.conf.get("numbers.limit")))
"""
STRICT = """
name: strict
schema: ptask
libraries: [{file: {path: strict.py}}]
"""
STRICT_PY = """
from pyspark import pipelines as dp

@dp.materialized_view
@dp.expect_or_fail("small", "id < 2")
def strict_numbers():
    return spark.range(3)
"""


def _workspace(root: Path) -> Path:
    for rel, text in {"jobs/nightly.yml": BUNDLE, "jobs/numbers.py": NUMBERS, "jobs/strict.pipeline.yml": STRICT,
                      "jobs/strict.py": STRICT_PY}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip())
    return root / "jobs" / "nightly.yml"


def test_validate_checks_the_pipeline_reference_without_a_jvm(tmp_path: Path) -> None:
    job = _workspace(tmp_path)
    text = job.read_text().replace("pipeline_id: numbers", "pipeline_id: numbrs")
    job.write_text(text)
    code = ("import sys; from lakeloom.engine.validate import validate_file; "
            "from lakeloom.plugin_manager import build_plugin_manager; "
            f"_, p = validate_file({str(job)!r}, build_plugin_manager()); "
            "print(chr(10).join(e.format() for e in p)); print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "nightly.yml:7: task 'refresh': field 'pipeline_task.pipeline_id': no pipeline file or pipeline named 'numbrs'" in out
    assert out.strip().endswith("False")
    job.write_text(text.replace("numbrs", "numbers"))
    _, problems = validate_file(str(job), build_plugin_manager())
    assert [p for p in problems if p.severity == "error"] == []
    # A bundle's own reference form names the pipeline by its resource key.
    job.write_text(text.replace("pipeline_id: numbrs", "pipeline_id: '${resources.pipelines.numbers.id}'"))
    _, problems = validate_file(str(job), build_plugin_manager())
    assert [p for p in problems if p.severity == "error"] == []
    job.write_text(text.replace("pipeline_id: numbrs", "pipeline_id: '${resources.pipelines.numbrs.id}'"))
    _, problems = validate_file(str(job), build_plugin_manager())
    assert any("no pipeline file or pipeline named 'numbrs'" in p.format() for p in problems)


@pytest.mark.spark
def test_pipeline_task_in_a_job_and_the_cli(spark, tmp_path: Path) -> None:  # noqa: ANN001
    job = _workspace(tmp_path)
    ws = load_workspace(tmp_path)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    run = engine.submit(str(job), job_key="nightly")
    rows = {r.task_key: r for r in engine.store.task_runs(run["run_id"])}
    assert rows["refresh"].result_state == "SUCCESS", rows["refresh"].state_message
    out = rows["refresh"].output["pipeline_output"]
    assert out["state"] == "COMPLETED" and out["datasets"]["evens"]["rows_written"] == 5
    assert out["datasets"]["evens"]["expectations"][0]["failed_records"] == 5
    assert [(e["event_type"], e["status"]) for e in out["event_log"] if e["dataset"] == "evens"][-2:] == [
        ("flow_progress", "COMPLETED"), ("flow_definition", None)]
    check = rows["check"].output["sql_output"]["first_row"]
    assert check == {"n": 5, "s": 20}  # the pipeline's table, read by the next task
    assert rows["strict"].result_state == "FAILED"
    assert "expectation 'small' (id < 2) failed on 1 of 3 rows" in rows["strict"].state_message
    strict_out = rows["strict"].output["pipeline_output"]
    assert strict_out["datasets"]["strict_numbers"]["status"] == "FAILED"

    runner = CliRunner()
    res = runner.invoke(cli, ["-w", str(tmp_path), "pipeline", "runs", "--json", f"{job}::numbers"])
    assert res.exit_code == 0, res.output
    (update,) = json.loads(res.output)
    assert update["status"] == "COMPLETED" and update["rows_written"] == 5 and update["dropped_records"] == 5
    res = runner.invoke(cli, ["-w", str(tmp_path), "pipeline", "dry-run", str(tmp_path / "jobs" / "strict.pipeline.yml")])
    assert res.exit_code == 0, res.output
    assert "strict_numbers" in res.output and "struct<id:bigint>" in res.output
    res = runner.invoke(cli, ["-w", str(tmp_path), "pipeline", "run", "--refresh", "nope",
                              str(tmp_path / "jobs" / "strict.pipeline.yml")])
    assert res.exit_code == 1 and "no dataset(s) ['nope'] in pipeline 'strict'" in res.output
