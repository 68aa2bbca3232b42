"""Notebooks that use the shared SparkSession: %sql cells, display, secrets, SDK imports."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_ctx import DictValueStore, make_ctx, run_in_task

from lakeloom.config import Workspace
from lakeloom.plugins.notebook_task import NotebookTaskSettings, executed_notebook_path, run_notebook_task
from lakeloom.plugins.notebook_task.executor import NotebookCellError

pytestmark = pytest.mark.spark
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def run(ctx, path: str, **base_parameters: str):  # noqa: ANN001, ANN201
    return run_in_task(ctx, run_notebook_task, ctx,
                       NotebookTaskSettings(notebook_path=path, base_parameters=base_parameters))


def test_sql_cells_bind_widgets_and_display_tables(spark, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=NOTEBOOKS, parameters={"min_id": "2"})
    out = run(ctx, "sql_cells.py")
    assert out.output["notebook_output"]["result"] == "3"
    cells = json.loads(executed_notebook_path(ctx).read_text())["cells"]
    sql_table = cells[0]["outputs"][0]["data"]
    assert cells[0]["source"].startswith("%sql\nCREATE OR REPLACE TEMP VIEW nb_numbers")
    assert "<th>n</th><th>s</th>" in sql_table["text/html"] and "<td>3</td><td>:not_a_param</td>" in sql_table["text/html"]
    shown = [o["data"] for o in cells[1]["outputs"] if o["output_type"] == "display_data"]
    assert "<td>4</td><td>8</td>" in shown[0]["text/html"] and "| 4  | 8       |" in shown[0]["text/plain"]
    assert shown[1] == {"text/html": "<b>bold</b>", "text/plain": "<HTML output>"}


def test_sql_cell_without_its_parameter_fails_naming_it(spark, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=NOTEBOOKS)
    with pytest.raises(NotebookCellError, match=r"cell 1 \(line 2\)[\s\S]*parameter :min_id has no value"):
        run(ctx, "sql_cells.py")


def test_a_java_error_keeps_its_message_and_loses_its_jvm_frames(spark, tmp_path: Path) -> None:  # noqa: ANN001
    # An unknown catalog reaches Python as a raw Py4JJavaError carrying the whole JVM stack.
    (tmp_path / "nb.py").write_text("# Databricks notebook source\n# Set the catalog\n"
                                    "spark.sql('USE CATALOG lakeloom_no_such_catalog')\n")
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=tmp_path)
    with pytest.raises(NotebookCellError) as info:
        run(ctx, "nb.py")
    message = str(info.value)
    assert "Py4JJavaError" in message and "[CATALOG_NOT_FOUND]" in message and "lakeloom_no_such_catalog" in message
    assert "\tat org.apache.spark" not in message and len(message) < 4000


def test_sql_cells_substitute_legacy_widget_references(spark, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=NOTEBOOKS)
    out = run(ctx, "sql_legacy_widgets.py", min_id="3", view_name="nb_legacy_v")
    # ids 3, 4, 5; a ${name} that is not a widget is left to Spark's own conf substitution
    assert out.output["notebook_output"]["result"] == "3|from-spark-conf"
    assert spark.catalog.tableExists("nb_legacy_v")
    spark.catalog.dropTempView("nb_legacy_v")
    spark.conf.unset("nb.legacy.note")


def test_dataframe_display_method_and_cluster_tags(spark, tmp_path: Path) -> None:  # noqa: ANN001
    nb = tmp_path / "show.py"
    nb.write_text("# Databricks notebook source\n"
                  "spark.range(3).selectExpr('id', 'id * 10 AS tens').display()\n"
                  "dbutils.notebook.exit(spark.conf.get('spark.databricks.clusterUsageTags.clusterName'))\n")
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=tmp_path)
    assert run(ctx, "show.py").output["notebook_output"]["result"] == "lakeloom-local"
    outputs = json.loads(executed_notebook_path(ctx).read_text())["cells"][0]["outputs"]
    html = next(o["data"]["text/html"] for o in outputs if o["output_type"] == "display_data")
    assert "<th>tens</th>" in html and "<td>2</td><td>20</td>" in html


def test_sql_notebook_with_python_cell(spark, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=NOTEBOOKS)
    assert run(ctx, "report.sql", region="emea").output["notebook_output"]["result"] == "15"


def test_secret_values_are_redacted_from_the_saved_notebook(spark, tmp_path: Path,  # noqa: ANN001
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "pa55-w0rd-\"quoted\"-ü"
    monkeypatch.setenv("LAKELOOM_SECRET_LAKELOOM_TEST__DB_PASSWORD", secret)
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=NOTEBOOKS)
    out = run(ctx, "secrets.py")
    assert out.output["notebook_output"]["result"] == "[REDACTED]"
    assert ctx.redactions == {secret}
    text = executed_notebook_path(ctx).read_text(encoding="utf-8")
    assert secret not in text and json.dumps(secret)[1:-1] not in text
    doc = json.loads(text)
    assert doc["cells"][0]["outputs"][0]["text"] == "the password is [REDACTED]\n"
    assert "<td>[REDACTED]</td>" in doc["cells"][0]["outputs"][1]["data"]["text/html"]
    assert doc["metadata"]["lakeloom"]["exit_value"] == "[REDACTED]"


def test_databricks_sdk_runtime_imports_resolve_to_the_task(spark, tmp_path: Path) -> None:  # noqa: ANN001
    from lakeloom.runtime.shims import install_runtime_shims

    install_runtime_shims()
    store = DictValueStore()
    ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=NOTEBOOKS, parameters={"region": "apac"},
                   store=store, task_key="sdk")
    assert run(ctx, "sdk_runtime.py").output["notebook_output"]["result"] == "apac:3"
    assert store.values[("sdk", "seen")] == "apac:3"
    import databricks.sdk.runtime as rt
    from pyspark.sql import SparkSession

    assert isinstance(rt.spark, SparkSession) and not rt.is_local_implementation
