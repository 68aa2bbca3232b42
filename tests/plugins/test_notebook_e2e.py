"""Notebook and SQL tasks through the engine: parameters, task values, conditions on SQL
output, databricks.sdk.runtime in three task kinds, failures and secret redaction."""
from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.store.records import TaskRunRecord

pytestmark = pytest.mark.spark
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
ATTACK = "x'; DROP TABLE e2e_victim; --"


def open_engine(root: Path, conf: dict[str, Any] | None = None) -> Engine:
    import lakeloom.plugins.notebook_task as nb_plugin
    import lakeloom.plugins.sql_task as sql_plugin

    if conf:
        (root / "conf").mkdir(parents=True, exist_ok=True)
        (root / "conf" / "lakeloom.yml").write_text(yaml.safe_dump(conf))
    ws = load_workspace(root)
    pm = build_plugin_manager(ws.disabled_plugins)
    for plugin in (nb_plugin, sql_plugin):  # until they are in DEFAULT_PLUGINS
        if not pm.is_registered(plugin) and plugin.lakeloom_task_types()[0].key not in pm.task_types:
            pm.register(plugin)
            pm._task_types = None
    return Engine.open(ws, pm)


def write_job(root: Path, body: dict[str, Any]) -> Path:
    shutil.copytree(NOTEBOOKS, root / "notebooks", dirs_exist_ok=True)
    path = root / "job.yml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def rows_by_key(engine: Engine, run_id: int) -> dict[str, TaskRunRecord]:
    return {r.task_key: r for r in engine.store.task_runs(run_id) if r.iteration is None}


def output(row: TaskRunRecord) -> dict[str, Any]:
    return row.output


def test_notebook_sql_condition_and_sdk_runtime_job(spark, tmp_path: Path,  # noqa: ANN001
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "notebooks" / "py"))
    job = write_job(tmp_path, {
        "name": "notebooks-e2e",
        "parameters": [{"name": "region", "default": "emea"}],
        "tasks": [
            {"task_key": "widgets", "notebook_task": {"notebook_path": "notebooks/widgets",
                                                      "base_parameters": {"mode": "incremental"}}},
            {"task_key": "enough", "depends_on": [{"task_key": "widgets"}],
             "condition_task": {"op": "GREATER_THAN", "left": "{{tasks.widgets.values.row_count}}", "right": "40"}},
            {"task_key": "sdk_notebook", "depends_on": [{"task_key": "enough", "outcome": "true"}],
             "notebook_task": {"notebook_path": "notebooks/sdk_runtime.py"}},
            {"task_key": "sdk_script", "spark_python_task": {"python_file": "notebooks/py/sdk_script.py"}},
            {"task_key": "sdk_wheel", "python_wheel_task": {"package_name": "ll_sdk_wheel", "entry_point": "main"}},
            {"task_key": "q", "sql_task": {"warehouse_id": "ignored", "parameters": {"n": "5"},
                                           "query": {"query": "SELECT count(*) AS n, :region AS r FROM range(:n)"}}},
            {"task_key": "q_is_5", "depends_on": [{"task_key": "q"}],
             "condition_task": {"op": "EQUAL_TO", "left": "{{tasks.q.output.first_row.n}}", "right": "5"}},
            {"task_key": "inject", "sql_task": {"parameters": {"v": ATTACK},
                                                "file": {"path": "notebooks/inject.sql"}}},
        ]})
    (tmp_path / "notebooks" / "inject.sql").write_text(
        "DROP TABLE IF EXISTS e2e_victim;\nCREATE TABLE e2e_victim (s STRING) USING delta;\n"
        "INSERT INTO e2e_victim VALUES (:v);\nSELECT s, (SELECT count(*) FROM e2e_victim) AS n FROM e2e_victim")
    engine = open_engine(tmp_path)
    run = engine.submit(str(job), params={"region": "apac"})
    rows = rows_by_key(engine, run["run_id"])
    states = {k: r.result_state for k, r in rows.items()}
    assert states == dict.fromkeys(rows, "SUCCESS"), {k: r.state_message for k, r in rows.items()}
    widgets = output(rows["widgets"])
    assert json.loads(widgets["notebook_output"]["result"]) == {
        "mode": "incremental", "only_default": "kept", "region": "apac"}  # job parameter pushed down
    saved = engine.workspace.resolve_stored(widgets["executed_notebook"])
    assert saved == engine.workspace.logs_dir / str(run["run_id"]) / "widgets" / "0.ipynb" and saved.exists()
    assert rows["enough"].result_state == "SUCCESS"
    assert output(rows["sdk_notebook"])["notebook_output"]["result"] == "apac:3"
    assert output(rows["sdk_wheel"])["result"] == "wheel saw 6"
    q = output(rows["q"])["sql_output"]
    assert q["first_row"] == {"n": 5, "r": "apac"}
    assert output(rows["inject"])["sql_output"]["rows"] == [{"s": ATTACK, "n": 1}]
    assert spark.table("e2e_victim").count() == 1
    spark.sql("DROP TABLE e2e_victim")
    values = engine.store.task_values(run["run_id"])
    assert values["sdk_script"]["script_n"] == 4 and values["sdk_wheel"]["wheel_n"] == 6
    assert values["sdk_notebook"]["seen"] == "apac:3" and values["widgets"]["region"] == "apac"


def test_failing_notebook_and_secret_redaction(spark, tmp_path: Path,  # noqa: ANN001
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-<&>-\"value\""
    secrets_file = tmp_path / "outside" / "secrets.yml"
    secrets_file.parent.mkdir()
    secrets_file.write_text(yaml.safe_dump({"lakeloom-test": {"db-password": secret}}))
    job = write_job(tmp_path / "ws", {
        "name": "notebooks-fail",
        "tasks": [
            {"task_key": "secrets", "notebook_task": {"notebook_path": "notebooks/secrets"}},
            {"task_key": "boom", "notebook_task": {"notebook_path": "notebooks/failing.py"}},
        ]})
    engine = open_engine(tmp_path / "ws", {"secrets": {"file": str(secrets_file)}})
    run = engine.submit(str(job))
    rows = rows_by_key(engine, run["run_id"])
    assert rows["secrets"].result_state == "SUCCESS"
    assert rows["boom"].result_state == "FAILED"
    msg = rows["boom"].state_message
    assert "failing.py, cell 3 (line 12) failed: result = divide(x, 0)" in msg
    assert "ZeroDivisionError" in msg
    forms = {secret, html.escape(secret), html.escape(secret, quote=False), json.dumps(secret)[1:-1]}
    leaks = []
    for f in (tmp_path / "ws" / ".lakeloom").rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            leaks += [(str(f), form) for form in forms if form.encode() in data]
    assert not leaks
    saved = json.loads((engine.workspace.logs_dir / str(run["run_id"]) / "secrets" / "0.ipynb").read_text())
    assert "the password is [REDACTED]" in saved["cells"][0]["outputs"][0]["text"]


def test_for_each_notebook_iterations_keep_their_own_executed_notebooks(spark, tmp_path: Path) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from lakeloom.cli.main import cli

    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "each.py").write_text(
        "# Databricks notebook source\nr = dbutils.widgets.get('region')\nprint('region is', r)\n"
        "dbutils.notebook.exit(r.upper())\n")
    job = tmp_path / "job.yml"
    job.write_text(yaml.safe_dump({"name": "each", "tasks": [{"task_key": "loop", "for_each_task": {
        "inputs": '["emea", "amer", "apac"]', "concurrency": 3, "task": {
            "task_key": "visit", "notebook_task": {"notebook_path": "nb/each.py",
                                                   "base_parameters": {"region": "{{input}}"}}}}}]}))
    engine = open_engine(tmp_path)
    run = engine.submit(str(job))
    assert run["state"]["result_state"] == "SUCCESS"
    saved = {}
    for r in engine.store.task_runs(run["run_id"]):
        if r.iteration is not None:
            path = engine.workspace.resolve_stored(output(r)["executed_notebook"])
            assert path.parent.name == f"iteration-{r.iteration}" and path.is_file()
            saved[r.iteration] = json.loads(path.read_text())["metadata"]["lakeloom"]["exit_value"]
    assert saved == {0: "EMEA", 1: "AMER", 2: "APAC"}  # three files, none overwritten by another

    cli_args = ["--workspace", str(tmp_path), "runs", "output", str(run["run_id"]), "visit"]
    every = CliRunner().invoke(cli, cli_args)
    assert every.exit_code == 0, every.output
    assert every.output.count("--- iteration") == 3 and "exit value: AMER" in every.output
    one = CliRunner().invoke(cli, [*cli_args, "--iteration", "2", "--json"])
    assert one.exit_code == 0 and json.loads(one.output)["notebook_output"]["result"] == "APAC"
    missing = CliRunner().invoke(cli, [*cli_args, "--iteration", "9"])
    assert missing.exit_code != 0 and "no iteration 9" in missing.output
