"""sql_task: Databricks SQL's standalone ``CREATE OR REFRESH STREAMING TABLE`` and ``CREATE OR
REPLACE MATERIALIZED VIEW`` (as the CLI's default-sql template writes them) run as one-dataset
pipelines: created, refreshed incrementally, with ``{{param}}`` values bound."""
from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from lakeloom.config import Workspace, load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.plugins.sql_task import validate_sql_settings
from lakeloom.plugins.sql_task.datasets import bind_literals, pipeline_dataset

JOB = """
name: orders
parameters:
  - {name: catalog, default: main}
  - {name: schema, default: sqlds}
  - {name: bundle_target, default: dev}
tasks:
  - task_key: orders_raw
    sql_task: {warehouse_id: abc, file: {path: orders_raw.sql}}
  - task_key: orders_daily
    depends_on: [{task_key: orders_raw}]
    sql_task: {warehouse_id: abc, file: {path: orders_daily.sql}}
  - task_key: check
    depends_on: [{task_key: orders_daily}]
    sql_task:
      query:
        query: >-
          SELECT string(order_date) AS d, number_of_orders AS n FROM main.sqlds.orders_daily
          UNION ALL SELECT 'raw', count(*) FROM main.sqlds.orders_raw
"""
RAW = """
-- ingests every JSON file of the landing folder
CREATE SCHEMA IF NOT EXISTS IDENTIFIER({{catalog}} || '.' || {{schema}});
USE CATALOG {{catalog}};
USE IDENTIFIER({{schema}});

CREATE OR REFRESH STREAMING TABLE
  orders_raw
AS SELECT customer_name, DATE(TIMESTAMP(FROM_UNIXTIME(TRY_CAST(order_datetime AS BIGINT)))) AS order_date
FROM STREAM READ_FILES("LANDING", format => "json")
"""
DAILY = """
USE CATALOG {{catalog}};
USE IDENTIFIER({{schema}});

CREATE OR REPLACE MATERIALIZED VIEW
  orders_daily
AS SELECT order_date, count(*) AS number_of_orders FROM orders_raw
WHERE if({{bundle_target}} = "prod", true, order_date >= '2019-08-01' AND order_date < '2019-09-01')
GROUP BY order_date
"""


def _land(folder: Path, name: str, days: list[str]) -> None:
    stamps = [int(dt.datetime.fromisoformat(d + "T12:00:00+00:00").timestamp()) for d in days]
    lines = [json.dumps({"customer_name": f"c{i}", "order_datetime": str(t)}) for i, t in enumerate(stamps)]
    (folder / name).write_text("\n".join(lines) + "\n")


def test_recognises_only_pipeline_dataset_statements() -> None:
    m = pipeline_dataset("-- c\n/* x */ create or replace materialized view main.s.`v w` AS SELECT 1")
    assert m is not None and m.group("or").upper() == "REPLACE" and m.group("name") == "main.s.`v w`"
    assert pipeline_dataset("CREATE STREAMING TABLE IF NOT EXISTS t AS SELECT 1").group("ine")  # type: ignore[union-attr]
    assert pipeline_dataset("REFRESH MATERIALIZED VIEW s.v FULL").group("full")  # type: ignore[union-attr]
    for other in ("CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE TABLE t (a INT)",
                  "SELECT 'CREATE MATERIALIZED VIEW x'", "REFRESH TABLE t"):
        assert pipeline_dataset(other) is None, other


def test_validate_accepts_the_statements(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text(RAW + ";\n" + DAILY + ";\nREFRESH MATERIALIZED VIEW orders_daily FULL;\n"
                                    "REFRESH STREAMING TABLE main.sqlds.orders_raw")
    assert validate_sql_settings({"file": {"path": "a.sql"}}, tmp_path) == []


def test_markers_become_escaped_literals_outside_strings() -> None:
    sql = "SELECT :a, ':a', `:a`, x::int, IDENTIFIER(:s) -- :a\n"
    assert bind_literals(sql, {"a": "it's \\", "s": "main.x"}) == (
        "SELECT 'it\\'s \\\\', ':a', `:a`, x::int, IDENTIFIER('main.x') -- :a\n")


@pytest.mark.spark
def test_default_sql_shaped_job_creates_and_refreshes_its_datasets(spark, tmp_path: Path) -> None:  # noqa: ANN001
    landing = tmp_path / "landing"
    landing.mkdir()
    _land(landing, "a.json", ["2019-08-01", "2019-08-01", "2019-07-31"])
    (tmp_path / "orders.job.yml").write_text(textwrap.dedent(JOB).lstrip())
    (tmp_path / "orders_raw.sql").write_text(RAW.replace("LANDING", str(landing)))
    (tmp_path / "orders_daily.sql").write_text(DAILY)
    ws = load_workspace(tmp_path)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    current = spark.catalog.currentCatalog(), spark.catalog.currentDatabase()
    try:
        _run_job(engine, ws, tmp_path, landing)
    finally:  # the job's USE statements ran on the suite's shared session
        spark.catalog.setCurrentCatalog(current[0])
        spark.catalog.setCurrentDatabase(current[1])
        spark.sql("DROP SCHEMA IF EXISTS main.sqlds CASCADE")


def _run_job(engine: Engine, ws: Workspace, tmp_path: Path, landing: Path) -> None:
    def run(**params: str) -> dict[str, int]:
        r = engine.submit(str(tmp_path / "orders.job.yml"), params=params or None)
        rows = {t.task_key: t for t in engine.store.task_runs(r["run_id"])}
        assert all(t.result_state == "SUCCESS" for t in rows.values()), [t.state_message for t in rows.values()]
        return {row["d"]: row["n"] for row in rows["check"].output["sql_output"]["rows"]}

    assert run() == {"2019-08-01": 2, "raw": 3}  # dev: August only
    _land(landing, "b.json", ["2019-08-02", "2019-09-03"])
    # prod: every day; the streaming table's second update read only b.json
    assert run(bundle_target="prod") == {"2019-07-31": 1, "2019-08-01": 2, "2019-08-02": 1, "2019-09-03": 1,
                                         "raw": 5}
    assert (ws.state_dir / "sql_datasets" / "main.sqlds.orders_daily" / "definition.sql").read_text().count("'prod'") == 1

    (tmp_path / "orders_daily.sql").write_text(DAILY.replace("CREATE OR REPLACE", "CREATE"))
    r = engine.submit(str(tmp_path / "orders.job.yml"), only=["orders_daily"])
    (task,) = engine.store.task_runs(r["run_id"])
    assert task.result_state == "FAILED" and "main.sqlds.orders_daily already exists" in task.state_message

    # REFRESH re-runs the stored definitions (the streaming table reads only the new file)
    (tmp_path / "orders_daily.sql").write_text("USE CATALOG {{catalog}};\nUSE IDENTIFIER({{schema}});\n"
                                               "REFRESH STREAMING TABLE orders_raw;\n"
                                               "REFRESH MATERIALIZED VIEW main.sqlds.orders_daily FULL")
    _land(landing, "c.json", ["2019-08-02"])
    r = engine.submit(str(tmp_path / "orders.job.yml"), only=["orders_daily+"])
    rows = {t.task_key: t for t in engine.store.task_runs(r["run_id"])}
    assert rows["orders_daily"].result_state == "SUCCESS", rows["orders_daily"].state_message
    got = {row["d"]: row["n"] for row in rows["check"].output["sql_output"]["rows"]}
    assert got == {"2019-07-31": 1, "2019-08-01": 2, "2019-08-02": 2, "2019-09-03": 1, "raw": 6}
