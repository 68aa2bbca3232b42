"""sql_task: statement splitting, parameter binding (injection-safe), output, alerts, validate."""
from __future__ import annotations

from pathlib import Path

import pytest
from notebook_ctx import make_ctx, run_in_task

from lakeloom.config import Workspace
from lakeloom.plugins.sql_task import (
    SqlTaskSettings, evaluate_alert, parameter_markers, run_sql_task, split_statements, validate_sql_settings)
from lakeloom.plugins.sql_task.execute import MissingSqlParameter, SqlExecutionError
from lakeloom.plugins.sql_task.splitter import SqlSyntaxError

TRICKY = """-- header; comment
SELECT 'a;b' AS x, "q;" AS y, `we;ird` FROM t;
/* block ; /* nested ; */ still comment ; */ INSERT INTO t VALUES (:v, 'it''s;', 'esc\\';');
SELECT a::int, b:c, :p FROM t WHERE x = ':no' -- :nope;
;;
BEGIN
  DECLARE x INT DEFAULT 1;
  IF x = 1 THEN SELECT CASE WHEN x = 1 THEN 1 ELSE 2 END; END IF;
  SELECT x;
END;
CREATE FUNCTION f() RETURNS INT LANGUAGE PYTHON AS $$ return 1; $$;
SELECT 1"""


def test_split_respects_strings_comments_identifiers_and_blocks() -> None:
    stmts = split_statements(TRICKY)
    assert [s.line for s in stmts] == [2, 3, 4, 6, 11, 12]
    assert stmts[0].text.endswith("`we;ird` FROM t")
    assert stmts[1].text.endswith("'esc\\';')")
    assert stmts[3].text.startswith("BEGIN") and stmts[3].text.endswith("END")
    assert stmts[4].text.endswith("$$ return 1; $$")
    assert [parameter_markers(s.text) for s in stmts] == [[], ["v"], ["p"], [], [], []]
    assert stmts[1].first_line == "INSERT INTO t VALUES (:v, 'it''s;', 'esc\\';');"[:-1] or stmts[1].first_line


@pytest.mark.parametrize("bad", ["SELECT 'open", "SELECT `open", "SELECT 1 /* open", "SELECT $$ open"])
def test_unterminated_tokens_are_errors_with_a_line(bad: str) -> None:
    with pytest.raises(SqlSyntaxError, match="line 2: unterminated"):
        split_statements("SELECT 1;\n" + bad)


def test_settings_shapes_and_errors() -> None:
    assert SqlTaskSettings.model_validate({"query": "SELECT 1"}).query.query == "SELECT 1"
    assert SqlTaskSettings.model_validate({"file": {"path": "a.sql"}, "warehouse_id": "w",
                                           "parameters": {"n": 3, "b": True}}).parameters == {"n": "3", "b": "true"}
    for bad, msg in [({}, "exactly one of"), ({"query": "x", "file": "y"}, "exactly one of"),
                     ({"query": {"query_id": "abc"}}, "saved queries"),
                     ({"alert": {"query": "x", "condition": {"column": "n", "op": "~", "threshold": 1}}}, "unknown alert op"),
                     ({"alert": {"query": "x"}}, "needs a condition")]:
        with pytest.raises(ValueError, match=msg):
            SqlTaskSettings.model_validate(bad)


def test_alert_evaluation() -> None:
    alert = SqlTaskSettings.model_validate(
        {"alert": {"query": "q", "condition": {"column": "n", "op": ">", "threshold": 10}}}).alert
    assert evaluate_alert(alert, {"n": 11}) == "TRIGGERED"
    assert evaluate_alert(alert, {"n": "9"}) == "OK"
    assert evaluate_alert(alert, {"n": None}) == "UNKNOWN"
    assert evaluate_alert(alert, None) == "UNKNOWN"
    eq = SqlTaskSettings.model_validate(
        {"alert": {"file": "a.sql", "empty_result_state": "OK",
                   "condition": {"column": "s", "op": "EQUAL", "threshold": "red"}}}).alert
    assert evaluate_alert(eq, {"s": "red"}) == "TRIGGERED" and evaluate_alert(eq, None) == "OK"
    with pytest.raises(KeyError, match="alert column 's' is not in the query result"):
        evaluate_alert(eq, {"other": 1})


def test_validate_reports_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "good.sql").write_text(TRICKY.replace("b:c", "b"))
    (tmp_path / "q" / "bad.sql").write_text("SELECT 1;\n\n-- note\nSELECT\n  a,\nFROM t WHERE a = = 1;\n")
    assert validate_sql_settings({"file": {"path": "q/good.sql"}}, tmp_path) == []
    issues = validate_sql_settings({"file": {"path": "q/bad.sql"}}, tmp_path)
    assert len(issues) == 1 and issues[0].field == "file.path"
    assert issues[0].message.startswith(f"{tmp_path / 'q' / 'bad.sql'}:6:")
    assert "syntax error" in issues[0].message
    missing = validate_sql_settings({"file": "q/none.sql"}, tmp_path)
    assert "cannot read" in missing[0].message and "none.sql" in missing[0].message
    inline = validate_sql_settings({"query": {"query": "SELECT 1;\nSELEC 2"}}, tmp_path)
    assert inline[0].field == "query.query" and inline[0].message.startswith("sql_task query:2:")
    # Delta commands sqlglot cannot parse are left to Spark, not reported as syntax errors.
    delta = ("DESCRIBE DETAIL main.s.t;\nDESCRIBE HISTORY main.s.t LIMIT 1;\nRESTORE TABLE t TO VERSION AS OF 1;\n"
             "CONVERT TO DELTA parquet.`/x`;\nFSCK REPAIR TABLE t;\nREORG TABLE t APPLY (PURGE)")
    assert validate_sql_settings({"query": {"query": delta}}, tmp_path) == []



def test_validate_accepts_identifier_expressions_in_ddl(tmp_path: Path) -> None:
    """Databricks takes any constant string expression in IDENTIFIER(), DDL names included
    (bundle-examples' metric_view and job_programmatic_generation write them); sqlglot alone
    rejected them as syntax errors."""
    (tmp_path / "ddl.sql").write_text(
        "-- a note with {{catalog}}\n"
        "CREATE SCHEMA IF NOT EXISTS IDENTIFIER({{catalog}} || '.' || {{schema}});\n"
        "USE CATALOG IDENTIFIER({{catalog}});\n"
        "CREATE OR REPLACE TABLE IDENTIFIER(\n  'main.' || :target || concat('.', 't(1')\n)\n"
        "TBLPROPERTIES ('delta.columnMapping.mode' = 'name') AS SELECT 'IDENTIFIER(x || y)' AS a;\n"
        "CREATE OR REPLACE VIEW v WITH METRICS LANGUAGE YAML AS $$\nversion: 1.0\nsource: s.t\n$$;\n")
    assert validate_sql_settings({"file": {"path": "ddl.sql"}}, tmp_path) == []
    # positions after a masked expression still point at the real error
    (tmp_path / "bad.sql").write_text("SELECT 1;\nCREATE TABLE IDENTIFIER('a.' || :s || '.t') AS SELECT (1 + FROM x")
    issues = validate_sql_settings({"file": {"path": "bad.sql"}}, tmp_path)
    assert len(issues) == 1 and issues[0].message.startswith(f"{tmp_path / 'bad.sql'}:2:"), issues


@pytest.mark.spark
class TestRun:
    def _run(self, spark, tmp_path: Path, block: dict, params: dict | None = None):  # noqa: ANN001, ANN202
        ctx = make_ctx(Workspace(root=tmp_path), spark=spark, base_dir=tmp_path, task_key="q",
                       parameters=params or {})
        return run_in_task(ctx, run_sql_task, ctx, SqlTaskSettings.model_validate(block))

    def test_injection_attempt_stays_a_literal(self, spark, tmp_path: Path) -> None:  # noqa: ANN001
        attack = "x'; DROP TABLE sqltask_victim; --"
        (tmp_path / "s.sql").write_text(
            "DROP TABLE IF EXISTS sqltask_victim;\n"
            "CREATE TABLE sqltask_victim (s STRING) USING delta;\n"
            "INSERT INTO sqltask_victim VALUES (:v);  -- ; in a comment\n"
            "SELECT s, length(s) AS len, 'semi;colon' AS lit FROM sqltask_victim WHERE s = :v")
        out = self._run(spark, tmp_path, {"file": {"path": "s.sql"}}, {"v": attack}).output["sql_output"]
        assert out["rows"] == [{"s": attack, "len": len(attack), "lit": "semi;colon"}]
        assert out["first_row"] == out["rows"][0] and out["row_count"] == 1 and out["truncated"] is False
        assert out["schema"] == [{"name": "s", "type": "string"}, {"name": "len", "type": "int"},
                                 {"name": "lit", "type": "string"}]
        assert spark.table("sqltask_victim").count() == 1
        spark.sql("DROP TABLE sqltask_victim")

    def test_rows_are_capped_and_jsonable(self, spark, tmp_path: Path) -> None:  # noqa: ANN001
        out = self._run(spark, tmp_path, {"query": "SELECT id FROM range(1500)"}).output["sql_output"]
        assert len(out["rows"]) == 1000 and out["truncated"] is True and out["row_count"] == 1500
        q = ("SELECT id, CAST(id AS DECIMAL(10,2)) AS d, DATE'2024-01-02' AS day, X'CAFE' AS b, "
             "named_struct('k', id) AS st, repeat('x', 100) AS pad FROM range(900)")
        out = self._run(spark, tmp_path, {"query": q}).output["sql_output"]
        assert out["rows"][3] == {"id": 3, "d": "3.00", "day": "2024-01-02", "b": "yv4=", "st": {"k": 3},
                                  "pad": "x" * 100}
        assert out["truncated"] is True and out["row_count"] == 900  # 48 KiB of rows, not 900
        assert 250 < len(out["rows"]) < 400

    def test_settings_parameters_and_task_parameters(self, spark, tmp_path: Path) -> None:  # noqa: ANN001
        block = {"query": "SELECT :a AS a, :b AS b", "parameters": {"a": "from-settings", "b": "settings"}}
        out = self._run(spark, tmp_path, block, {"b": "from-ctx"}).output["sql_output"]
        assert out["first_row"] == {"a": "from-settings", "b": "from-ctx"}

    def test_missing_parameter_and_failing_statement_are_named(self, spark, tmp_path: Path) -> None:  # noqa: ANN001
        with pytest.raises(MissingSqlParameter, match=r"sql_task query, line 2: parameter :nope has no value"):
            self._run(spark, tmp_path, {"query": "SELECT 1;\nSELECT :nope"})
        (tmp_path / "f.sql").write_text("SELECT 1;\n\nSELECT * FROM sqltask_no_such_table")
        with pytest.raises(SqlExecutionError, match=r"sql_task file f.sql, statement 2 of 2 \(line 3\): "
                                                    r"SELECT \* FROM sqltask_no_such_table\n.*TABLE_OR_VIEW_NOT_FOUND"):
            self._run(spark, tmp_path, {"file": "f.sql"})

    def test_alert_state(self, spark, tmp_path: Path) -> None:  # noqa: ANN001
        block = {"alert": {"query": "SELECT count(*) AS n FROM range(:n)",
                           "condition": {"column": "n", "op": "GREATER_THAN", "threshold": 5}}}
        assert self._run(spark, tmp_path, block, {"n": "7"}).output["sql_output"]["alert_state"] == "TRIGGERED"
        assert self._run(spark, tmp_path, block, {"n": "3"}).output["sql_output"]["alert_state"] == "OK"

    def test_ddl_only_script_has_empty_output(self, spark, tmp_path: Path) -> None:  # noqa: ANN001
        out = self._run(spark, tmp_path, {"query": "CREATE OR REPLACE TEMP VIEW sqltask_v AS SELECT 1 AS a"})
        assert out.output["sql_output"]["rows"] == [] and out.output["sql_output"]["first_row"] is None

    def test_identifier_expression_names_ddl_objects(self, spark, tmp_path: Path) -> None:  # noqa: ANN001
        (tmp_path / "ddl.sql").write_text(
            "CREATE SCHEMA IF NOT EXISTS IDENTIFIER({{catalog}} || '.' || {{schema}});\n"
            "CREATE OR REPLACE TABLE IDENTIFIER(\n  {{catalog}} || '.' || :schema || '.t'\n) AS SELECT 7 AS a;\n"
            "SELECT a FROM IDENTIFIER({{catalog}} || '.' || {{schema}} || '.t')")
        params = {"catalog": "spark_catalog", "schema": "sqltask_ident_s"}
        out = self._run(spark, tmp_path, {"file": "ddl.sql"}, params).output["sql_output"]
        assert out["rows"] == [{"a": 7}]
        spark.sql("DROP SCHEMA spark_catalog.sqltask_ident_s CASCADE")
