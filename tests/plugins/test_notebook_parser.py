"""Parsing Databricks source notebooks and .ipynb files (no Spark)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeloom.plugins.notebook_task.parser import NotebookParseError, parse_notebook, parse_run_args

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def test_source_notebook_cells_titles_and_magics() -> None:
    nb = parse_notebook(NOTEBOOKS / "widgets.py")
    assert nb.language == "python" and nb.source_format == "SOURCE"
    assert [c.kind for c in nb.cells] == ["python", "markdown", "python", "python", "python"]
    first = nb.cells[0]
    assert first.title == "Declare widgets"
    assert first.line == 3  # the line after the DBTITLE
    assert first.source.startswith('dbutils.widgets.text("region"')
    assert nb.cells[1].source == "## Read the values\nParameters passed by the task win over the declared defaults."


def test_magic_prefixes_are_stripped_and_line_numbers_point_into_the_file() -> None:
    nb = parse_notebook(NOTEBOOKS / "sql_cells.py")
    sql = nb.cells[0]
    assert sql.kind == "sql"
    assert sql.source.splitlines()[0] == "CREATE OR REPLACE TEMP VIEW nb_numbers AS"
    assert "# MAGIC" not in sql.source
    lines = (NOTEBOOKS / "sql_cells.py").read_text().splitlines()
    assert lines[sql.line - 1] == "# MAGIC %sql"
    assert lines[nb.cells[1].line - 1] == 'n = _sqldf.first()["n"]'


def test_sql_notebook_with_python_cell() -> None:
    nb = parse_notebook(NOTEBOOKS / "report.sql")
    assert nb.language == "sql"
    assert [c.kind for c in nb.cells] == ["sql", "sql", "python"]
    assert nb.cells[1].title == "Totals"
    assert nb.cells[2].source.startswith('total = _sqldf.first()["total"]')


def test_ipynb_cells_and_cell_magics(tmp_path: Path) -> None:
    doc = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# T"]},
        {"cell_type": "code", "metadata": {"application/vnd.databricks.v1+cell": {"title": "Q"}}, "outputs": [],
         "source": ["%%sql\n", "SELECT 1"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": "   "},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["%run ./x $a=1"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "n.ipynb"
    p.write_text(json.dumps(doc))
    nb = parse_notebook(p)
    assert [(c.kind, c.source, c.title) for c in nb.cells] == [
        ("markdown", "# T", None), ("sql", "SELECT 1", "Q"), ("run", "", None)]
    assert nb.cells[2].magic_args == "./x $a=1"


def test_headerless_py_is_one_cell_and_bad_inputs_name_the_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("x = 1\n\n# COMMAND ----------\n\ny = 2\n")
    assert [c.source for c in parse_notebook(plain).cells] == ["x = 1", "y = 2"]
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(NotebookParseError, match=r"broken\.ipynb:1: invalid notebook JSON"):
        parse_notebook(broken)
    scala = tmp_path / "s.scala"
    scala.write_text("// Databricks notebook source\nval x = 1\n")
    with pytest.raises(NotebookParseError, match="only Python and SQL"):
        parse_notebook(scala)


def test_run_arguments() -> None:
    assert parse_run_args('./lib/helpers $greeting="hello there" $n=2') == (
        "./lib/helpers", {"greeting": "hello there", "n": "2"})
    assert parse_run_args('"./with space/nb" $a=\'x y\'') == ("./with space/nb", {"a": "x y"})
    with pytest.raises(ValueError, match="needs a notebook path"):
        parse_run_args("  ")
