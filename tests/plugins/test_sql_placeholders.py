"""``{{name}}`` in sql_task files, the way Databricks' default-sql template writes them:
a value bound by Spark in code, identifier text inside backquotes, literal text in strings."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.plugins.sql_task import validate_sql_settings
from lakeloom.plugins.sql_task.placeholders import MissingPlaceholderValue, expand_placeholders, placeholder_names

SQL = """-- uses {{catalog}} and {{schema}}
USE CATALOG `{{catalog}}`;
CREATE SCHEMA IF NOT EXISTS IDENTIFIER({{schema}});
USE IDENTIFIER({{schema}});
CREATE OR REPLACE TABLE orders AS SELECT * FROM VALUES (1, 'prod'), (2, 'dev'), (3, 'dev') AS v(id, env);
SELECT count(*) AS n, '{{schema}} in {{catalog}}' AS label, {{note}} AS note
FROM orders WHERE if({{bundle_target}} = "prod", true, env = {{bundle_target}})
"""


def test_placeholders_become_markers_identifiers_or_literal_text() -> None:
    values = {"catalog": "ma`in", "schema": "s", "bundle_target": "dev", "note": "it's"}
    out = expand_placeholders(SQL, values, "q.sql")
    assert out.splitlines()[0] == "-- uses {{catalog}} and {{schema}}"  # comments untouched
    assert "USE CATALOG `ma``in`;" in out
    assert "IDENTIFIER(:schema)" in out and "if(:bundle_target = \"prod\", true, env = :bundle_target)" in out
    assert "'s in ma`in'" in out and ":note AS note" in out
    assert placeholder_names(SQL) == ["catalog", "schema", "note", "bundle_target"]
    with pytest.raises(MissingPlaceholderValue, match=r"q.sql, line 3: \{\{schema\}\} has no value"):
        expand_placeholders(SQL, {"catalog": "main"}, "q.sql")


def test_validate_accepts_placeholder_sql(tmp_path: Path) -> None:
    (tmp_path / "q.sql").write_text(SQL)
    assert validate_sql_settings({"file": {"path": "q.sql"}}, tmp_path) == []


@pytest.mark.spark
def test_sql_file_with_placeholders_runs_with_job_parameters(spark, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "orders.sql").write_text(SQL)
    attack = "x' OR '1'='1"
    job = {"name": "sql-placeholders",
           "parameters": [{"name": "catalog", "default": "main"}, {"name": "schema", "default": "ph_schema"},
                          {"name": "bundle_target", "default": "dev"}],
           "tasks": [{"task_key": "orders", "sql_task": {"warehouse_id": "w", "file": {"path": "src/orders.sql"},
                                                         "parameters": {"note": attack}}}]}
    (tmp_path / "job.yml").write_text(yaml.safe_dump(job, sort_keys=False))
    engine = Engine.open(load_workspace(tmp_path / "ws"), build_plugin_manager(()))
    try:
        run = engine.submit(str(tmp_path / "job.yml"))
        rows = {r.task_key: r for r in engine.store.task_runs(run["run_id"])}
        assert run["state"]["result_state"] == "SUCCESS", rows["orders"].state_message
        first = rows["orders"].output["sql_output"]["first_row"]
        # bound as values: dev rows only, and the attack string came back as data
        assert first == {"n": 2, "label": "ph_schema in main", "note": attack}
        prod = engine.submit(str(tmp_path / "job.yml"), params={"bundle_target": "prod"})
        prow = {r.task_key: r for r in engine.store.task_runs(prod["run_id"])}["orders"]
        assert prow.output["sql_output"]["first_row"]["n"] == 3
    finally:
        spark.sql("USE main.default")
