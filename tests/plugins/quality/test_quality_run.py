"""quality_task through one real engine run on Spark + Delta with Great Expectations:
every severity path, inline/JSON/YAML/table-property suites, failing-row samples, the
results table, a condition_task branching on a warning, and the run page showing it all."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))

from lakeloom.config import load_workspace  # noqa: E402
from lakeloom.engine.api import Engine  # noqa: E402
from lakeloom.plugin_manager import build_plugin_manager  # noqa: E402
from lakeloom.store.records import TaskRunRecord  # noqa: E402

# The engine run with Great Expectations happens in the module fixture, counted in the first test's time.
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

XSS = "<script>window.__q=1</script>"
RESULTS = "main.qtest.results"

CRITICAL_SUITE = {"name": "paid_orders", "expectations": [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": ["paid"]},
     "severity": "warning"},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {"owner": "sales"}},
]}
TABLE_SUITE = """\
name: orders_table
expectations:
  - expect_column_values_to_be_unique: {column: id}
  - expect_table_row_count_to_equal: {value: 200}
  - expect_column_values_to_not_be_null: {column: name, severity: info}
"""


def _quality(key: str, **block: Any) -> dict[str, Any]:
    return {"task_key": key, "quality_task": block}


def _noop(key: str, dep: str, outcome: str) -> dict[str, Any]:
    return {"task_key": key, "depends_on": [{"task_key": dep, "outcome": outcome}],
            "condition_task": {"op": "EQUAL_TO", "left": "1", "right": "1"}}


@pytest.fixture(scope="module")
def quality_run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from serving import make_workspace

    root = make_workspace(tmp_path_factory.mktemp("quality"), {"quality": {"results_table": RESULTS}})
    spark.sql("DROP SCHEMA IF EXISTS main.qtest CASCADE")
    spark.sql("CREATE SCHEMA main.qtest")
    rows = [(i, float(i - 5), ["paid", "open"][i % 2], None if i % 50 == 0 else (XSS if i == 1 else f"n{i}"))
            for i in range(200)]
    spark.createDataFrame(rows, "id BIGINT, amount DOUBLE, status STRING, name STRING") \
        .write.format("delta").saveAsTable("main.qtest.orders")
    (root / "suites").mkdir()
    (root / "suites" / "orders_table.yml").write_text(TABLE_SUITE)
    spark.sql("ALTER TABLE main.qtest.orders SET TBLPROPERTIES ('lakeloom.quality.suite' = 'suites/orders_table.yml')")
    (root / "jobs" / "suites").mkdir(parents=True)
    (root / "jobs" / "suites" / "paid.json").write_text(json.dumps(CRITICAL_SUITE, indent=2))
    tasks = [
        _quality("clean", table="main.qtest.orders", expectations=[
            {"expect_column_values_to_not_be_null": {"column": "id"}},
            {"expect_column_values_to_be_between": {"column": "id", "min_value": 0, "max_value": 199}},
            {"expect_column_values_to_be_in_set": {"column": "status", "value_set": ["paid", "open"]}},
            {"expect_column_to_exist": {"column": "name"}},
        ]),
        _quality("warn", table="main.qtest.orders", sample_failed_rows=3, expectations=[
            {"expect_column_values_to_be_between": {"column": "amount", "min_value": 0, "severity": "warning"}},
            {"expect_column_values_to_not_be_null": {"column": "name", "severity": "info"}},
            {"expect_column_values_to_be_unique": {"column": "id"}},
        ]),
        _quality("critical", query="SELECT * FROM main.qtest.orders WHERE id < 100", suite="suites/paid.json"),
        _quality("by_property", table="main.qtest.orders", store_results=False),
        _quality("rejected", table="main.qtest.orders", expectations=[  # passes validate; GX refuses the value
            {"expect_column_values_to_be_between": {"column": "amount", "min_value": "zero"}}]),
        {"task_key": "gate", "depends_on": [{"task_key": "warn"}],
         "condition_task": {"op": "EQUAL_TO", "left": "{{tasks.warn.values.success}}", "right": "true"}},
        _noop("publish", "gate", "true"),
        _noop("on_warning", "gate", "false"),
    ]
    job = root / "jobs" / "quality.yml"
    job.write_text(yaml.safe_dump({"name": "quality", "tasks": tasks}, sort_keys=False))
    ws = load_workspace(root)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    run = engine.submit(str(job))
    rows_by_key = {r.task_key: r for r in engine.store.task_runs(run["run_id"])}
    values = engine.store.task_values(run["run_id"])
    engine.store.close()
    yield {"root": root, "run": run, "rows": rows_by_key, "values": values}
    spark.sql("DROP SCHEMA IF EXISTS main.qtest CASCADE")


def _out(row: TaskRunRecord) -> dict[str, Any]:
    return row.output["quality_output"]


def _by_name(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["expectation"]: r for r in out["results"]}


def test_passing_suite_succeeds(quality_run: dict[str, Any]) -> None:
    row = quality_run["rows"]["clean"]
    assert row.result_state == "SUCCESS", row.state_message
    out = _out(row)
    assert out["status"] == "PASSED" and out["success"] is True and out["failed_expectations"] == []
    assert out["statistics"]["evaluated_expectations"] == 4 and out["suite"] == "clean"
    assert quality_run["values"]["clean"] == {"success": True, "failed_expectations": [], "status": "PASSED"}


def test_warning_and_info_failures_end_success_with_samples(quality_run: dict[str, Any]) -> None:
    row = quality_run["rows"]["warn"]
    assert row.result_state == "SUCCESS", row.state_message
    out = _out(row)
    assert out["status"] == "WARNING" and out["success"] is False
    between = _by_name(out)["expect_column_values_to_be_between"]
    assert (between["success"], between["severity"], between["column"]) == (False, "warning", "amount")
    assert between["unexpected_count"] == 5 and between["unexpected_percent"] == pytest.approx(2.5)
    assert len(between["failed_rows"]) == 3 and all(r["amount"] < 0 for r in between["failed_rows"])
    assert set(between["failed_rows"][0]) == {"id", "amount", "status", "name"}
    nulls = _by_name(out)["expect_column_values_to_not_be_null"]
    assert (nulls["success"], nulls["severity"], nulls["unexpected_count"]) == (False, "info", 4)
    assert _by_name(out)["expect_column_values_to_be_unique"]["success"] is True
    assert quality_run["values"]["warn"] == {
        "success": False, "status": "WARNING",
        "failed_expectations": ["expect_column_values_to_be_between", "expect_column_values_to_not_be_null"]}


def test_condition_task_branches_on_the_warning(quality_run: dict[str, Any]) -> None:
    rows = quality_run["rows"]
    assert rows["gate"].result_state == "SUCCESS"
    assert rows["publish"].result_state == "EXCLUDED"
    assert rows["on_warning"].result_state == "SUCCESS"


def test_critical_failure_fails_the_task_naming_the_expectation(quality_run: dict[str, Any]) -> None:
    row = quality_run["rows"]["critical"]
    assert row.result_state == "FAILED"
    assert row.state_message.endswith("1 critical expectation(s) failed on query: "
                                           "expect_column_values_to_be_between(amount): 5 unexpected (5.00%)")
    out = _out(row)  # recorded although the task failed
    assert out["suite"] == "paid_orders" and out["status"] == "FAILED"
    assert out["critical_failures"] == ["expect_column_values_to_be_between"]
    assert out["warnings"] == ["expect_column_values_to_be_in_set"]
    assert _by_name(out)["expect_table_row_count_to_be_between"]["observed_value"] == 100
    assert quality_run["values"]["critical"]["success"] is False
    assert quality_run["run"]["state"]["result_state"] == "FAILED"


def test_table_property_names_the_suite(quality_run: dict[str, Any]) -> None:
    row = quality_run["rows"]["by_property"]
    assert row.result_state == "SUCCESS", row.state_message
    out = _out(row)
    assert out["suite"] == "orders_table" and out["status"] == "WARNING" and out["results_table"] is None
    assert [r["expectation"] for r in out["results"] if not r["success"]] == ["expect_column_values_to_not_be_null"]


def test_values_gx_rejects_fail_the_task_before_validating(quality_run: dict[str, Any]) -> None:
    row = quality_run["rows"]["rejected"]
    assert row.result_state == "FAILED" and row.output == {}
    assert "Great Expectations rejected expectations:\nquality_task.expectations[0]: " \
           "expect_column_values_to_be_between: min_value: value is not a valid float" in row.state_message


def test_results_are_appended_to_the_delta_table(quality_run: dict[str, Any], spark: Any) -> None:
    run_id = quality_run["run"]["run_id"]
    rows = spark.table(RESULTS).where(f"run_id = {run_id}").collect()
    by = {(r["task_key"], r["expectation"]): r for r in rows}
    assert sorted({r["task_key"] for r in rows}) == ["clean", "critical", "warn"]  # by_property stores none
    assert len(rows) == 4 + 3 + 3
    between = by[("warn", "expect_column_values_to_be_between")]
    assert (between["success"], between["severity"], between["unexpected_count"], between["dataset"]) == (
        False, "warning", 5, "main.qtest.orders")
    assert len(json.loads(between["failed_rows"])) == 3 and between["job_name"] == "quality"
    assert json.loads(by[("critical", "expect_table_row_count_to_be_between")]["observed_value"]) == 100
    assert spark.sql(f"DESCRIBE DETAIL {RESULTS}").first()["format"] == "delta"


def test_run_page_shows_results_and_failing_rows(quality_run: dict[str, Any]) -> None:
    from dashboard_env import signed_in
    from serving import LiveServer

    srv = LiveServer(quality_run["root"], scheduler=False)
    try:
        client = signed_in(srv, srv.token("alice", admin=True))
        page = client.get(f"/runs/{quality_run['run']['run_id']}?task=warn").text
    finally:
        srv.close()
    assert "Data quality" in page and 'class="badge s-warn">WARNING' in page
    assert "<code>expect_column_values_to_be_between</code>" in page and "min_value=0" in page
    assert "3 failing rows (sample)" in page
    assert "&lt;script&gt;window.__q=1&lt;/script&gt;" in page and XSS not in page


def test_shipped_registry_matches_the_installed_gx() -> None:
    from lakeloom.plugins.quality.registry import build_registry, load_registry

    built = build_registry()
    registry = load_registry()
    assert registry.gx_version == built["gx_version"]
    assert sorted(registry.expectations) == sorted(built["expectations"])
    assert {n: sorted(a) for n, a in registry.expectations.items()} == {
        n: sorted(a) for n, a in built["expectations"].items()}
