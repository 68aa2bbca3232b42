"""``%pip install`` in a pipeline's notebooks installs libraries for the whole pipeline, as on
Databricks (its DLT CDC example starts with ``%pip install Faker``)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline_helpers import write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.notebook_pip import pip_install_dependencies
from lakeloom.pipelines.runner import run_update


def test_pip_install_lines_of_source_and_ipynb_notebooks(tmp_path: Path) -> None:
    source = tmp_path / "gen.py"
    source.write_text("# Databricks notebook source\n# MAGIC %pip install Faker==19.6.2 --quiet\n\n"
                      "# COMMAND ----------\n\n# MAGIC %pip install -r reqs.txt \\\n# MAGIC   ./wheels/a.whl\n\n"
                      "# COMMAND ----------\n\n# MAGIC %pip list\n\n# COMMAND ----------\n\nimport faker\n")
    assert [(d.text, d.origin, d.base_dir) for d in pip_install_dependencies(source)] == [
        ("Faker==19.6.2", f"{source}:2: %pip install", tmp_path),
        ("-r reqs.txt", f"{source}:6: %pip install", tmp_path),
        ("./wheels/a.whl", f"{source}:6: %pip install", tmp_path)]
    plain = tmp_path / "plain.py"  # not a notebook: a comment is a comment
    plain.write_text("# MAGIC %pip install Faker\nimport dlt\n")
    assert pip_install_dependencies(plain) == []
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["%pip install not-code"]},
        {"cell_type": "code", "source": ["%pip install a b==2\n", "%pip install c"]},
        {"cell_type": "code", "source": ["import a"]}]}))
    assert [d.text for d in pip_install_dependencies(nb)] == ["a", "b==2", "c"]


@pytest.mark.spark
def test_a_pipeline_notebook_pip_installs_for_its_source_and_udfs(spark, spark_workspace: Workspace,  # noqa: ANN001
                                                                   tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "nbpkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "nbpkg"
        version = "3.1"

        [tool.setuptools]
        packages = ["nbpkg"]
        """))
    (project / "nbpkg" / "__init__.py").write_text("def tag(x):\n    return 'nb:' + str(x)\n")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check",
                    "--outdir", str(tmp_path / "dist"), str(project)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("nbpkg-3.1-*.whl")
    loaded = write_pipeline(tmp_path / "p", "nbpip", {
        "src/gen.py": f"""\
            # Databricks notebook source
            # MAGIC %pip install --quiet {wheel}

            # COMMAND ----------

            import nbpkg
            from pyspark import pipelines as dp
            from pyspark.sql import functions as F

            AT_LOAD = nbpkg.tag("load")

            @dp.materialized_view
            def tagged():
                return spark.range(2).select(F.udf(lambda x: nbpkg.tag(x), "string")("id").alias("t"),
                                             F.lit(AT_LOAD).alias("at_load"))
            """})
    run_update(spark, loaded, spark_workspace)
    rows = sorted((r.t, r.at_load) for r in spark.table("main.nbpip.tagged").collect())
    assert rows == [("nb:0", "nb:load"), ("nb:1", "nb:load")]
    assert "nbpkg" not in sys.modules  # installed for the pipeline, not into lakeloom's process
