"""A pipeline update runs with its principal's rights: a dataset reading a table the principal
may not read fails the update with Databricks' error and publishes nothing; once it may, the
table's row filter applies to what the pipeline reads."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_helpers import write_pipeline
from lakeloom.config import Workspace
from lakeloom.pipelines.runner import PipelineUpdateFailed, run_update
from lakeloom.runtime.spark import bind_task_thread, unbind_task_thread

pytestmark = pytest.mark.spark


def test_a_pipeline_reads_a_protected_table_with_its_principals_rights(
        spark, spark_workspace: Workspace, tmp_path: Path) -> None:  # noqa: ANN001
    spark.sql("CREATE SCHEMA main.pl_secret")
    spark.sql("CREATE TABLE main.pl_secret.salaries AS SELECT * FROM VALUES (1, 100), (2, 200) AS t(id, pay)")
    spark.sql("CREATE FUNCTION main.pl_secret.low_pay(pay INT) RETURN pay < 150")
    spark.sql("ALTER TABLE main.pl_secret.salaries SET ROW FILTER main.pl_secret.low_pay ON (pay)")
    loaded = write_pipeline(tmp_path / "p", "pl_gov", {"src/copy.sql": """
        CREATE OR REFRESH MATERIALIZED VIEW copied AS SELECT * FROM main.pl_secret.salaries;
    """})
    # mallory may create the pipeline's schema and use the secret one, but not read its table.
    spark.sql("GRANT USE CATALOG, CREATE SCHEMA ON CATALOG main TO `mallory`")
    spark.sql("GRANT USE SCHEMA ON SCHEMA main.pl_secret TO `mallory`")

    def update_as_mallory() -> None:
        # As the engine binds a task thread: the update and every thread it starts run as mallory.
        bind_task_thread(spark, "pl-gov-test", "pl-gov-test", properties={"lakeloom.principal": "mallory"})
        try:
            run_update(spark, loaded, spark_workspace)
        finally:
            unbind_task_thread(spark)

    try:
        with pytest.raises(PipelineUpdateFailed) as info:
            update_as_mallory()
        assert "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table " \
               "'main.pl_secret.salaries'. SQLSTATE: 42501" in str(info.value)
        assert not spark.catalog.tableExists("main.pl_gov.copied")
        spark.sql("GRANT SELECT ON TABLE main.pl_secret.salaries TO `mallory`")
        update_as_mallory()
        assert [tuple(r) for r in spark.table("main.pl_gov.copied").collect()] == [(1, 100)]
    finally:
        spark.sql("DROP SCHEMA IF EXISTS main.pl_gov CASCADE")
        spark.sql("DROP SCHEMA main.pl_secret CASCADE")
        spark.sql("REVOKE ALL PRIVILEGES ON CATALOG main FROM `mallory`")
