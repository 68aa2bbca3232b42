"""Grants enforced on Spark's plans: the bypass matrix of issue 12 on a real Spark + Delta session.

The OS user running the tests is the workspace's admin and owns what it creates; each test
switches its thread to ``alice`` (group ``analysts``) or ``bob`` with ``as_principal``.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from lakeloom.catalog import identity
from lakeloom.catalog.grants import GrantStore, Securable
from lakeloom.catalog.identity import as_principal
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark

DENIED = "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table 'main.gov.orders'. " \
         "SQLSTATE: 42501"


@pytest.fixture(scope="module")
def gov(spark: Any, spark_workspace: Workspace) -> Iterator[Workspace]:
    """Schema main.gov with orders (protected), t (a write target) and a view over orders;
    alice (group analysts) may use the catalog and schema but holds nothing on the tables."""
    ws = Workspace(root=spark_workspace.root, settings={**spark_workspace.settings,
                                                        "governance": {"groups": {"analysts": ["alice"]}}})
    identity.publish(ws)
    spark.sql("CREATE SCHEMA main.gov")
    spark.sql("CREATE TABLE main.gov.orders (id INT, region STRING)")
    spark.sql("INSERT INTO main.gov.orders VALUES (1, 'US'), (2, 'EU')")
    spark.sql("CREATE TABLE main.gov.t (id INT, region STRING)")
    spark.sql("INSERT INTO main.gov.t VALUES (1, 'US')")
    spark.sql("CREATE VIEW main.gov.us_orders AS SELECT * FROM main.gov.orders WHERE region = 'US'")
    spark.sql("GRANT USE CATALOG ON CATALOG main TO analysts")
    spark.sql("GRANT USE SCHEMA ON SCHEMA main.gov TO analysts")
    yield ws
    spark.sql("REVOKE USE CATALOG ON CATALOG main FROM analysts")
    identity.publish(spark_workspace)


def _denied(spark: Any, action: Any, text: str = DENIED) -> None:
    with pytest.raises(Exception) as info:
        action()
    assert text in str(info.value)


def _version(spark: Any, table: str) -> int:
    return spark.sql(f"DESCRIBE HISTORY {table}").agg({"version": "max"}).first()[0]


def test_denial_is_databricks_error_and_use_privileges_come_first(spark: Any, gov: Workspace) -> None:
    with as_principal(spark, "bob"):
        _denied(spark, lambda: spark.sql("SELECT * FROM main.gov.orders").collect(),
                "User does not have USE CATALOG on Catalog 'main'. SQLSTATE: 42501")
    with as_principal(spark, "alice"):
        with pytest.raises(Exception) as info:
            spark.sql("SELECT * FROM main.gov.orders").collect()
        assert type(info.value).__name__ == "AnalysisException"
        assert str(info.value).startswith(DENIED)


def test_names_are_resolved_by_spark_not_by_text(spark: Any, gov: Workspace) -> None:
    with as_principal(spark, "alice"):
        # A CTE named like the protected table shadows it: nothing protected is read.
        assert spark.sql("WITH orders AS (SELECT 7 AS id) SELECT id FROM orders").first()[0] == 7
        _denied(spark, lambda: spark.sql("WITH x AS (SELECT * FROM main.gov.orders) SELECT * FROM x").collect())
        for name in ("`main`.`gov`.`orders`", "main.Gov.ORDERS", "`main`.`GOV`.`Orders`"):  # catalogs are case-sensitive in Spark
            _denied(spark, lambda: spark.sql(f"SELECT * FROM {name}").collect())
        spark.sql("SET CATALOG main")
        spark.sql("USE SCHEMA gov")
        try:
            _denied(spark, lambda: spark.sql("SELECT * FROM orders").collect())
        finally:
            spark.sql("USE SCHEMA default")
        _denied(spark, lambda: spark.sql(
            "SELECT * FROM main.gov.t WHERE id IN (SELECT id FROM main.gov.orders)").collect())


def test_dataframe_streaming_and_delta_api_reads(spark: Any, gov: Workspace) -> None:
    from delta.tables import DeltaTable

    with as_principal(spark, "alice"):
        _denied(spark, lambda: spark.table("main.gov.orders"))
        _denied(spark, lambda: spark.read.table("main.gov.orders"))
        _denied(spark, lambda: spark.readStream.table("main.gov.orders"))
        _denied(spark, lambda: DeltaTable.forName(spark, "main.gov.orders").toDF().collect())
        _denied(spark, lambda: spark.sql("SELECT * FROM main.gov.orders VERSION AS OF 0").collect())
        _denied(spark, lambda: spark.read.option("versionAsOf", 0).table("main.gov.orders").collect())
        _denied(spark, lambda: spark.sql("DESCRIBE HISTORY main.gov.orders").collect())


def test_temp_views_carry_no_rights_and_views_run_as_their_owner(spark: Any, gov: Workspace) -> None:
    spark.table("main.gov.orders").createOrReplaceTempView("gov_orders_tmp")  # made by the admin
    with as_principal(spark, "alice"):
        _denied(spark, lambda: spark.sql("SELECT * FROM gov_orders_tmp").collect())
        _denied(spark, lambda: spark.sql("SELECT * FROM main.gov.us_orders").collect(),
                "User does not have SELECT on Table 'main.gov.us_orders'")
    spark.sql("GRANT SELECT ON VIEW main.gov.us_orders TO `alice`")
    # bob owns a view over the admin's view; alice may read only bob's view.
    spark.sql("GRANT SELECT ON VIEW main.gov.us_orders TO `bob`")
    spark.sql("GRANT USE CATALOG ON CATALOG main TO `bob`")
    spark.sql("GRANT USE SCHEMA, CREATE TABLE ON SCHEMA main.gov TO `bob`")
    with as_principal(spark, "bob"):
        spark.sql("CREATE VIEW main.gov.bobs AS SELECT id FROM main.gov.us_orders")
    spark.sql("GRANT SELECT ON TABLE main.gov.bobs TO analysts")
    try:
        with as_principal(spark, "alice"):
            assert [r.id for r in spark.sql("SELECT * FROM main.gov.us_orders").collect()] == [1]
            assert [r.id for r in spark.sql("SELECT * FROM main.gov.bobs").collect()] == [1]
            _denied(spark, lambda: spark.sql("CREATE TEMP VIEW leak AS SELECT * FROM main.gov.orders") and
                    spark.sql("SELECT * FROM leak").collect())
        spark.sql("REVOKE SELECT ON VIEW main.gov.us_orders FROM `bob`")
        with as_principal(spark, "alice"):  # the chain breaks where its owner lost access
            _denied(spark, lambda: spark.sql("SELECT * FROM main.gov.bobs").collect(),
                    "User does not have SELECT on Table 'main.gov.us_orders'")
    finally:
        spark.sql("DROP VIEW main.gov.bobs")
        spark.sql("REVOKE SELECT ON VIEW main.gov.us_orders FROM `alice`")
        spark.sql("REVOKE ALL PRIVILEGES ON SCHEMA main.gov FROM `bob`")
        spark.sql("REVOKE USE CATALOG ON CATALOG main FROM `bob`")


def test_managed_storage_is_refused_by_path_even_to_admins(spark: Any, gov: Workspace) -> None:
    location = spark.sql("DESCRIBE DETAIL main.gov.orders").first().location
    refused = "overlaps with managed storage within 'CheckPathAccess' call"
    _denied(spark, lambda: spark.read.format("delta").load(location).collect(), refused)
    _denied(spark, lambda: spark.sql(f"SELECT * FROM delta.`{location}`").collect(), refused)
    _denied(spark, lambda: spark.read.parquet(location).collect(), refused)
    _denied(spark, lambda: spark.range(1).write.format("delta").mode("append").save(location), refused)
    assert spark.table("main.gov.orders").count() == 2  # by name it still works


def test_writes_need_modify_and_write_nothing_when_denied(spark: Any, gov: Workspace) -> None:
    from delta.tables import DeltaTable

    spark.sql("GRANT SELECT ON TABLE main.gov.t TO analysts")
    before = _version(spark, "main.gov.t")
    modify = "User does not have MODIFY on Table 'main.gov.t'"
    rows = spark.createDataFrame([(9, "X")], "id INT, region STRING")
    try:
        with as_principal(spark, "alice"):
            for sql in ("INSERT INTO main.gov.t VALUES (5, 'x')", "UPDATE main.gov.t SET id = 0",
                        "DELETE FROM main.gov.t", "TRUNCATE TABLE main.gov.t", "OPTIMIZE main.gov.t",
                        "VACUUM main.gov.t", "INSERT OVERWRITE main.gov.t SELECT * FROM main.gov.t",
                        "MERGE INTO main.gov.t USING (SELECT 2 AS id, 'y' AS region) s ON t.id = s.id "
                        "WHEN NOT MATCHED THEN INSERT *"):
                _denied(spark, lambda: spark.sql(sql).collect(), modify)
            _denied(spark, lambda: rows.write.mode("append").saveAsTable("main.gov.t"), modify)
            _denied(spark, lambda: rows.write.insertInto("main.gov.t"), modify)
            _denied(spark, lambda: rows.writeTo("main.gov.t").append(), modify)
            _denied(spark, lambda: DeltaTable.forName(spark, "main.gov.t").delete("id = 1"), modify)
            _denied(spark, lambda: DeltaTable.forName(spark, "main.gov.t").update("id = 1", {"id": "0"}), modify)
            _denied(spark, lambda: DeltaTable.forName(spark, "main.gov.t").restoreToVersion(0), modify)
            stream = spark.readStream.table("main.gov.t")
            _denied(spark, lambda: stream.writeStream.option("checkpointLocation", str(gov.root / "chk-denied"))
                    .trigger(availableNow=True).toTable("main.gov.t"), modify)
        assert _version(spark, "main.gov.t") == before
    finally:
        spark.sql("REVOKE SELECT ON TABLE main.gov.t FROM analysts")


def test_merge_needs_select_on_its_source(spark: Any, gov: Workspace) -> None:
    spark.sql("GRANT SELECT, MODIFY ON TABLE main.gov.t TO `alice`")
    try:
        with as_principal(spark, "alice"):
            _denied(spark, lambda: spark.sql(
                "MERGE INTO main.gov.t t USING main.gov.orders s ON t.id = s.id "
                "WHEN NOT MATCHED THEN INSERT *").collect())
            merged = spark.sql("MERGE INTO main.gov.t t USING (SELECT 3 AS id, 'z' AS region) s ON t.id = s.id "
                               "WHEN NOT MATCHED THEN INSERT *").first()
            assert merged.num_inserted_rows == 1
    finally:
        spark.sql("REVOKE ALL PRIVILEGES ON TABLE main.gov.t FROM `alice`")


def test_schema_grants_cover_future_tables_and_creators_own(spark: Any, gov: Workspace) -> None:
    spark.sql("GRANT SELECT, CREATE TABLE ON SCHEMA main.gov TO analysts")
    spark.sql("CREATE TABLE main.gov.later (id INT)")  # created after the grant
    try:
        with as_principal(spark, "alice"):
            assert spark.table("main.gov.later").count() == 0
            spark.sql("CREATE TABLE main.gov.alices AS SELECT id FROM main.gov.orders")
            spark.sql("INSERT INTO main.gov.alices VALUES (10)")
            owner = [r for r in spark.sql("SHOW GRANTS ON TABLE main.gov.alices").collect() if r.action_type == "OWN"]
            assert [r.principal for r in owner] == ["alice"]
            spark.sql("GRANT SELECT ON TABLE main.gov.alices TO `bob`")  # the owner may grant
            _denied(spark, lambda: spark.sql("GRANT SELECT ON TABLE main.gov.orders TO `alice`").collect(),
                    "User does not have MANAGE on Table 'main.gov.orders'")
            _denied(spark, lambda: spark.sql("ALTER TABLE main.gov.orders OWNER TO `alice`").collect(),
                    "User does not have MANAGE on Table 'main.gov.orders'")
            _denied(spark, lambda: spark.sql("DROP TABLE main.gov.later").collect(),
                    "User does not have MANAGE on Table 'main.gov.later'")
        rows = {(r.principal, r.action_type, r.object_type) for r in
                spark.sql("SHOW GRANTS ON TABLE main.gov.alices").collect()}
        assert {("bob", "SELECT", "TABLE"), ("analysts", "SELECT", "SCHEMA"), ("analysts", "USE CATALOG", "CATALOG"),
                ("alice", "OWN", "TABLE")} <= rows
        assert [tuple(r) for r in spark.sql("SHOW GRANTS `bob` ON TABLE main.gov.alices").collect()] == [
            ("bob", "SELECT", "TABLE", "main.gov.alices")]
        # Ownership is not inherited: owning the schema's table gives nothing on the schema.
        store = GrantStore(gov)
        assert store.effective_privileges("alice", Securable.of("table", "main.gov.alices")) == ["ALL_PRIVILEGES"]
        assert "MANAGE" not in store.effective_privileges("alice", Securable.of("schema", "main.gov"))
        with as_principal(spark, "alice"):  # grants follow a renamed table
            spark.sql("ALTER TABLE main.gov.alices RENAME TO main.gov.alices2")
        assert store.grants_on(Securable.of("table", "main.gov.alices2")) == {"bob": ["SELECT"]}
        assert store.grants_on(Securable.of("table", "main.gov.alices")) == {}
    finally:
        spark.sql("REVOKE SELECT, CREATE TABLE ON SCHEMA main.gov FROM analysts")
        spark.sql("DROP TABLE IF EXISTS main.gov.alices")
        spark.sql("DROP TABLE IF EXISTS main.gov.alices2")
        spark.sql("DROP TABLE main.gov.later")


def test_a_revoke_in_another_process_applies_to_the_next_statement(spark: Any, gov: Workspace) -> None:
    spark.sql("GRANT SELECT ON TABLE main.gov.orders TO `alice`")
    with as_principal(spark, "alice"):
        assert spark.table("main.gov.orders").count() == 2
    code = ("import sys; from lakeloom.config import Workspace; from lakeloom.catalog.grants import GrantStore, Securable;"
            "GrantStore(Workspace(root=__import__('pathlib').Path(sys.argv[1])))"
            ".revoke(Securable.of('table', 'main.gov.orders'), 'alice', ['SELECT'])")
    subprocess.run([sys.executable, "-c", code, str(gov.root)], check=True, timeout=120)
    with as_principal(spark, "alice"):
        _denied(spark, lambda: spark.table("main.gov.orders").count())


def test_decisions_and_grants_are_audited(spark: Any, gov: Workspace) -> None:
    import time

    from lakeloom.catalog.audit import read_events

    with as_principal(spark, "alice"):
        _denied(spark, lambda: spark.sql("SELECT * FROM main.gov.orders").collect())
    spark.sql("SELECT count(*) FROM main.gov.orders").collect()
    spark.sql("GRANT SELECT ON TABLE main.gov.orders TO `carol`")
    spark.sql("REVOKE SELECT ON TABLE main.gov.orders FROM `carol`")
    time.sleep(2.5)  # allowed reads are appended by the audit thread about once a second
    events = list(read_events(gov))
    denied = [e for e in events if e["user_identity"]["email"] == "alice" and e["response"]["status_code"] == 403]
    assert denied and denied[-1]["request_params"]["table_full_name"] == "main.gov.orders"
    assert denied[-1]["service_name"] == "unityCatalog" and DENIED in denied[-1]["response"]["error_message"]
    allowed = [e for e in events if e["action_name"] == "generateTemporaryTableCredential"
               and e["response"]["status_code"] == 200 and e["request_params"]["table_full_name"] == "main.gov.orders"]
    assert allowed and allowed[-1]["identity_metadata"]["run_as"] == identity.os_user()
    changes = [e["request_params"]["changes"] for e in events if e["action_name"] == "updatePermissions"]
    assert any('"carol"' in c and "remove" in c for c in changes)
    assert {"event_time", "event_date", "event_id", "request_id", "user_identity"} <= set(events[-1])


def test_volumes_need_create_volume_and_belong_to_their_creator(spark: Any, gov: Workspace) -> None:
    with as_principal(spark, "alice"):
        _denied(spark, lambda: spark.sql("CREATE VOLUME main.gov.landing").collect(),
                "User does not have CREATE VOLUME on Schema 'main.gov'")
    spark.sql("GRANT CREATE VOLUME ON SCHEMA main.gov TO analysts")
    try:
        with as_principal(spark, "alice"):
            spark.sql("CREATE VOLUME main.gov.landing")
            spark.sql("GRANT READ VOLUME ON VOLUME main.gov.landing TO `bob`")
        rows = {(r.principal, r.action_type) for r in spark.sql("SHOW GRANTS ON VOLUME main.gov.landing").collect()}
        assert {("alice", "OWN"), ("bob", "READ VOLUME")} <= rows
        store = GrantStore(gov)
        landing = Securable.of("volume", "main.gov.landing")
        assert store.owner(landing) == "alice"
        assert store.effective_privileges("bob", landing) == ["READ_VOLUME"]
        with as_principal(spark, "bob"):
            _denied(spark, lambda: spark.sql("DROP VOLUME main.gov.landing").collect(),
                    "User does not have USE CATALOG on Catalog 'main'")
        spark.sql("ALTER VOLUME main.gov.landing OWNER TO `bob`")
        assert store.owner(landing) == "bob"
    finally:
        spark.sql("DROP VOLUME IF EXISTS main.gov.landing")
        spark.sql("REVOKE CREATE VOLUME ON SCHEMA main.gov FROM analysts")
    assert store.grants_on(landing) == {}  # a dropped volume's grants go with it
