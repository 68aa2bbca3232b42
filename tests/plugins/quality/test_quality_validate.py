"""quality_task validation: GX names and arguments checked by `lakeloom validate` without importing GX."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

JOB = """\
name: quality-validate
tasks:
  - task_key: check
    quality_task:
      table: main.sales.orders
      suite: suites/orders.json
      expectations:
        - expect_column_values_to_not_be_null: {column: id}
        - expect_column_values_to_be_between: {column: amount, min_valu: 0, severity: warning}
        - expect_colum_values_to_be_unique: {column: id}
        - expect_column_values_to_be_in_set: {column: status, value_set: paid, mostly: 1.5, severity: high}
        - {type: expect_table_row_count_to_be_between, kwargs: {min_value: 1}, severity: info}
        - expect_column_values_to_match_regex: {regex: "^a"}
        - [not, a, mapping]
"""

SUITE = {"name": "orders_suite", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "severity": "warning"},
    {"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "amount", "min_value": 0}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount"}},
]}

#: Runs `lakeloom validate` in a fresh interpreter, then reports which heavy modules it imported.
PROBE = textwrap.dedent("""
    import sys
    from click.testing import CliRunner
    from lakeloom.cli.main import cli
    result = CliRunner().invoke(cli, ["validate", sys.argv[1]])
    print(result.exit_code)
    print(result.output)
    print("HEAVY", [m for m in ("great_expectations", "pyspark", "mlflow") if m in sys.modules])
""")


def test_validate_names_file_line_task_and_field_and_imports_no_gx(tmp_path: Path) -> None:
    job = tmp_path / "jobs" / "q.yml"
    (tmp_path / "jobs" / "suites").mkdir(parents=True)
    job.write_text(JOB)
    suite = tmp_path / "jobs" / "suites" / "orders.json"
    suite.write_text(json.dumps(SUITE, indent=2))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(job)], capture_output=True, text=True, cwd=tmp_path)
    out = proc.stdout
    assert out.splitlines()[0] == "2", out + proc.stderr
    field = f"{job}:{{}}: task 'check': field 'quality_task.{{}}': {{}}"
    for line, name, message in [
        (9, "expectations[1].expect_column_values_to_be_between.min_valu",
         "unknown argument 'min_valu' of expect_column_values_to_be_between (did you mean 'min_value'?)"),
        (9, "expectations[1].expect_column_values_to_be_between",
         "expect_column_values_to_be_between needs at least one of min_value, max_value"),
        (10, "expectations[2].expect_colum_values_to_be_unique",
         "unknown expectation 'expect_colum_values_to_be_unique' (did you mean 'expect_column_values_to_be_unique'?)"),
        (11, "expectations[3].expect_column_values_to_be_in_set.value_set",
         "argument 'value_set' of expect_column_values_to_be_in_set takes array or object, not string ('paid')"),
        (11, "expectations[3].expect_column_values_to_be_in_set.mostly",
         "argument 'mostly' of expect_column_values_to_be_in_set must be <= 1 (got 1.5)"),
        (11, "expectations[3].expect_column_values_to_be_in_set.severity",
         "severity is one of critical, warning, info, not 'high'"),
        (13, "expectations[5].expect_column_values_to_match_regex",
         "expect_column_values_to_match_regex needs argument 'column'"),
        (6, "suite", f"{suite}:12: unknown expectation 'expect_column_values_to_be_betwen'"),
        (6, "suite", f"{suite}:19: expect_column_values_to_be_between needs at least one of min_value, max_value"),
    ]:
        assert field.format(line, name, message) in out, (line, name, message, out)
    assert field.format(14, "expectations[6]", "an expectation is a mapping") in out
    assert "expectations[0]" not in out and "expectations[4]" not in out  # valid entries, both shapes
    assert "INVALID (10 errors)" in out
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_valid_quality_job_and_unreadable_suite(tmp_path: Path) -> None:
    from lakeloom.engine.validate import validate_file
    from lakeloom.plugin_manager import build_plugin_manager

    job = tmp_path / "ok.yml"
    job.write_text("name: ok\ntasks:\n  - task_key: q\n    quality_task:\n      query: SELECT 1 AS id\n"
                   "      expectations:\n        - expect_column_values_to_not_be_null: {column: id}\n"
                   "        - expect_table_row_count_to_equal: {value: 1, severity: info, meta: {owner: me}}\n")
    pm = build_plugin_manager()
    assert validate_file(job, pm)[1] == []
    job.write_text("name: bad\ntasks:\n  - task_key: q\n    quality_task:\n      query: SELECT 1\n"
                   "      suite: missing.yml\n  - task_key: r\n    quality_task: {query: SELECT 1}\n")
    problems = [p.format() for p in validate_file(job, pm)[1]]
    assert any(f"{job}:6: task 'q': field 'quality_task.suite': suite file {tmp_path / 'missing.yml'}: "
               "cannot read it" in p for p in problems), problems
    assert any("task 'r'" in p and "a quality_task on a query needs suite or expectations" in p for p in problems)
    assert "great_expectations" not in sys.modules or "pyspark" in sys.modules  # validation itself imports no GX
