"""Row filters and column masks under governance, with two principals on one real Spark + Delta
session: who may set policies and create or call functions, what a non-admin reads (every path),
which rows its UPDATE/DELETE/MERGE touch, and foreachBatch code checked like any other.

The OS user running the tests is the workspace's admin and in group ``auditors``, whom the
policies let see everything; ``alice`` (group ``analysts``) sees US rows with masked SSNs.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lakeloom.catalog import identity
from lakeloom.catalog.identity import as_principal
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark

T = "main.rsg.orders"
RAW = [(1, "US", "111-11-1111", 10), (2, "EU", "222-22-2222", 20), (3, "US", "333-33-3333", 30)]
VISIBLE = [(1, "US", "***-**-1111", 10), (3, "US", "***-**-3333", 30)]


def _insufficient(privilege: str, securable: str) -> str:
    return f"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have {privilege} on {securable}. " \
           "SQLSTATE: 42501"


@pytest.fixture(scope="module")
def rsg(spark: Any, spark_workspace: Workspace) -> Iterator[Workspace]:
    """main.rsg.orders (versions 1 and 2) with an auditors-see-all filter and SSN mask, a view over
    it, and alice allowed to use the schema, read orders and the view, and create tables."""
    ws = Workspace(root=spark_workspace.root, settings={**spark_workspace.settings, "governance": {
        "groups": {"analysts": ["alice"], "auditors": [identity.os_user(), "carol"]}}})
    identity.publish(ws)
    spark.sql("CREATE SCHEMA main.rsg")
    spark.sql(f"CREATE TABLE {T} (id INT, region STRING, ssn STRING, amount INT)")
    spark.sql(f"INSERT INTO {T} VALUES (1, 'US', '111-11-1111', 10), (2, 'EU', '222-22-2222', 20)")
    spark.sql(f"INSERT INTO {T} VALUES (3, 'US', '333-33-3333', 30)")
    spark.sql("CREATE FUNCTION main.rsg.us_only(region STRING) "
              "RETURN IF(is_account_group_member('auditors'), true, region = 'US')")
    spark.sql("CREATE FUNCTION main.rsg.tail4(s STRING) RETURN right(s, 4)")
    # A mask calling another function: the reader needs EXECUTE on neither (definer's rights).
    spark.sql("CREATE FUNCTION main.rsg.mask_ssn(ssn STRING) "
              "RETURN IF(is_account_group_member('auditors'), ssn, concat('***-**-', main.rsg.tail4(ssn)))")
    spark.sql(f"ALTER TABLE {T} SET ROW FILTER main.rsg.us_only ON (region)")
    spark.sql(f"ALTER TABLE {T} ALTER COLUMN ssn SET MASK main.rsg.mask_ssn")
    spark.sql(f"CREATE VIEW main.rsg.orders_v AS SELECT id, ssn FROM {T}")
    spark.sql("GRANT USE CATALOG ON CATALOG main TO analysts")
    spark.sql("GRANT USE SCHEMA, CREATE TABLE ON SCHEMA main.rsg TO analysts")
    spark.sql(f"GRANT SELECT ON TABLE {T} TO analysts")
    spark.sql("GRANT SELECT ON VIEW main.rsg.orders_v TO analysts")
    yield ws
    spark.sql("REVOKE USE CATALOG ON CATALOG main FROM analysts")
    spark.sql("DROP SCHEMA main.rsg CASCADE")
    identity.publish(spark_workspace)


def _rows(df: Any) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def _denied(action: Any, text: str) -> None:
    with pytest.raises(Exception) as info:
        action()
    assert text in str(info.value)


def test_setting_policies_creating_and_calling_functions_is_governed(spark: Any, rsg: Workspace) -> None:
    manage = _insufficient("MANAGE", f"Table '{T}'")
    with as_principal(spark, "alice"):  # may read orders, does not own it
        for sql in (f"ALTER TABLE {T} DROP ROW FILTER", f"ALTER TABLE {T} ALTER COLUMN ssn DROP MASK",
                    f"ALTER TABLE {T} SET ROW FILTER main.rsg.us_only ON (region)",
                    f"ALTER TABLE {T} ALTER COLUMN region SET MASK main.rsg.tail4"):
            _denied(lambda: spark.sql(sql), manage)
        _denied(lambda: spark.sql("CREATE FUNCTION main.rsg.mine(x INT) RETURN x"),
                _insufficient("CREATE FUNCTION", "Schema 'main.rsg'"))
        _denied(lambda: spark.sql("SELECT main.rsg.tail4('abcdef') AS t").collect(),
                _insufficient("EXECUTE", "Function 'main.rsg.tail4'"))
        # Her own table: she owns it, but assigning a policy also needs EXECUTE on the function.
        spark.sql("CREATE TABLE main.rsg.alices (id INT, region STRING)")
        _denied(lambda: spark.sql("ALTER TABLE main.rsg.alices SET ROW FILTER main.rsg.us_only ON (region)"),
                _insufficient("EXECUTE", "Function 'main.rsg.us_only'"))
        _denied(lambda: spark.sql("CREATE TABLE main.rsg.alices2 (region STRING) "
                                  "WITH ROW FILTER main.rsg.us_only ON (region)"),
                _insufficient("EXECUTE", "Function 'main.rsg.us_only'"))
        _denied(lambda: spark.sql("DROP FUNCTION main.rsg.tail4"), _insufficient("MANAGE", "Function 'main.rsg.tail4'"))
    assert not spark.catalog.tableExists("main.rsg.alices2")  # nothing half-created
    assert spark.sql("SHOW USER FUNCTIONS IN main.rsg LIKE 'mine'").collect() == []
    with pytest.raises(Exception, match=r"\[ROUTINE_NOT_FOUND\].*`main`\.`rsg`\.`nope`"):
        spark.sql("GRANT EXECUTE ON FUNCTION main.rsg.nope TO analysts")  # as in Unity Catalog
    spark.sql("GRANT EXECUTE ON FUNCTION main.rsg.us_only TO analysts")
    spark.sql("GRANT EXECUTE ON FUNCTION main.rsg.tail4 TO analysts")
    spark.sql("GRANT CREATE FUNCTION ON SCHEMA main.rsg TO analysts")
    try:
        with as_principal(spark, "alice"):
            assert spark.sql("SELECT main.rsg.tail4('abcdef') AS t").first().t == "cdef"
            spark.sql("ALTER TABLE main.rsg.alices SET ROW FILTER main.rsg.us_only ON (region)")
            spark.sql("INSERT INTO main.rsg.alices VALUES (1, 'US'), (2, 'EU')")
            assert _rows(spark.table("main.rsg.alices")) == [(1, "US")]
            spark.sql("ALTER TABLE main.rsg.alices DROP ROW FILTER")
            spark.sql("CREATE FUNCTION main.rsg.mine(x INT) RETURN x + 1")
            assert spark.sql("SELECT main.rsg.mine(1) AS m").first().m == 2  # the owner may call it
            spark.sql("DROP FUNCTION main.rsg.mine")  # ... and drop it
    finally:
        spark.sql("REVOKE EXECUTE ON FUNCTION main.rsg.us_only FROM analysts")
        spark.sql("REVOKE EXECUTE ON FUNCTION main.rsg.tail4 FROM analysts")
        spark.sql("REVOKE CREATE FUNCTION ON SCHEMA main.rsg FROM analysts")
        spark.sql("DROP TABLE IF EXISTS main.rsg.alices")
    from lakeloom.catalog.audit import read_events

    denied = [e for e in read_events(rsg) if e["action_name"] == "updateTables"
              and e["user_identity"]["email"] == "alice" and e["response"]["status_code"] == 403
              and e["request_params"]["full_name_arg"] == T]  # the session's audit log has other tests' events
    assert denied


def test_a_non_admin_reads_through_filter_and_mask_on_every_path(spark: Any, rsg: Workspace) -> None:
    assert _rows(spark.table(T)) == RAW  # the admin is an auditor
    # carol is an auditor without being an admin.
    spark.sql("GRANT SELECT ON TABLE main.rsg.orders TO `carol`")
    spark.sql("GRANT USE CATALOG ON CATALOG main TO `carol`")
    spark.sql("GRANT USE SCHEMA ON SCHEMA main.rsg TO `carol`")
    with as_principal(spark, "carol"):
        assert _rows(spark.table(T)) == RAW
    spark.createDataFrame([("***-**-3333", "masked"), ("111-11-1111", "raw")], "ssn STRING, who STRING") \
        .createOrReplaceTempView("rsg_people")
    with as_principal(spark, "alice"):
        assert _rows(spark.sql(f"SELECT * FROM {T}")) == VISIBLE
        assert _rows(spark.sql(f"SELECT * FROM {T} VERSION AS OF 1")) == VISIBLE[:1]  # time travel
        assert _rows(spark.sql(f"WITH o AS (SELECT * FROM {T}) SELECT id, ssn FROM o")) == \
            [(1, "***-**-1111"), (3, "***-**-3333")]  # CTE
        assert _rows(spark.table("main.rsg.orders_v")) == [(1, "***-**-1111"), (3, "***-**-3333")]  # view
        spark.table(T).createOrReplaceTempView("alice_tmp")  # temp view made by alice
        assert _rows(spark.sql("SELECT id FROM alice_tmp")) == [(1,), (3,)]
        joined = spark.sql(f"SELECT o.id, p.who FROM {T} o JOIN rsg_people p ON o.ssn = p.ssn")
        assert _rows(joined) == [(3, "masked")]  # the raw SSN matches nothing
        agg = spark.sql(f"SELECT region, count(*) AS n, sum(amount) AS s, max(ssn) AS m FROM {T} GROUP BY region")
        assert _rows(agg) == [("US", 2, 40, "***-**-3333")]
        # MERGE with the protected table as source copies what alice sees, nothing more.
        spark.sql("CREATE TABLE main.rsg.alice_copy (id INT, ssn STRING)")
        spark.sql(f"MERGE INTO main.rsg.alice_copy c USING {T} s ON c.id = s.id "
                  "WHEN NOT MATCHED THEN INSERT (id, ssn) VALUES (s.id, s.ssn)")
        assert _rows(spark.table("main.rsg.alice_copy")) == [(1, "***-**-1111"), (3, "***-**-3333")]
        query = (spark.readStream.table(T).writeStream.format("memory").queryName("rsg_alice_stream")
                 .trigger(availableNow=True).start())
        query.awaitTermination(300)
        assert _rows(spark.table("rsg_alice_stream")) == VISIBLE  # streaming read
        spark.sql("DROP VIEW alice_tmp")
        spark.sql("DROP TABLE main.rsg.alice_copy")
    spark.sql("DROP VIEW rsg_people")
    spark.sql("REVOKE ALL PRIVILEGES ON TABLE main.rsg.orders FROM `carol`")
    spark.sql("REVOKE USE CATALOG ON CATALOG main FROM `carol`")
    spark.sql("REVOKE USE SCHEMA ON SCHEMA main.rsg FROM `carol`")


def test_update_delete_and_merge_touch_only_visible_rows_and_read_masked_values(spark: Any, rsg: Workspace) -> None:
    from delta.tables import DeltaTable

    acc = "main.rsg.accounts"
    spark.sql(f"CREATE TABLE {acc} (id INT, region STRING, ssn STRING, amount INT) "
              "WITH ROW FILTER main.rsg.us_only ON (region)")
    spark.sql(f"ALTER TABLE {acc} ALTER COLUMN ssn SET MASK main.rsg.mask_ssn")
    spark.sql(f"INSERT INTO {acc} VALUES (1, 'US', '111-11-1111', 10), (2, 'EU', '222-22-2222', 20), "
              "(3, 'US', '333-33-3333', 30), (4, 'EU', '444-44-4444', 40)")
    spark.sql(f"GRANT SELECT, MODIFY ON TABLE {acc} TO analysts")
    try:
        with as_principal(spark, "alice"):
            assert spark.sql(f"UPDATE {acc} SET amount = amount + 1").first()[0] == 2
            assert spark.sql(f"UPDATE {acc} SET amount = 0 WHERE id = 2").first()[0] == 0  # hidden
            assert spark.sql(f"DELETE FROM {acc} WHERE ssn = '111-11-1111'").first()[0] == 0  # raw value: no match
            assert spark.sql(f"DELETE FROM {acc} WHERE ssn = '***-**-1111'").first()[0] == 1
            merged = spark.sql(f"""MERGE INTO {acc} t USING (SELECT * FROM VALUES (2, 'US', 'new', 7), (3, 'US', 'x', 9)
                                   AS s(id, region, ssn, amount)) s ON t.id = s.id
                                   WHEN MATCHED THEN UPDATE SET amount = s.amount
                                   WHEN NOT MATCHED THEN INSERT *
                                   WHEN NOT MATCHED BY SOURCE THEN DELETE""").first()
            # id 3 updated; the hidden id 2 does not match, so its source row is new; nothing
            # visible is left unmatched, and the hidden id 4 is not deleted.
            assert (merged.num_updated_rows, merged.num_inserted_rows, merged.num_deleted_rows) == (1, 1, 0)
            assert DeltaTable.forName(spark, acc).toDF().count() == 2
            # DeltaTable's API hands Delta the filtered DataFrame as its target, which Delta refuses
            # before anything is touched; SQL is the way to change a filtered table.
            _denied(lambda: DeltaTable.forName(spark, acc).delete("amount = 9"), "DELTA_UNEXPECTED_PARTIAL_SCAN")
            spark.sql(f"DELETE FROM {acc} WHERE amount = 9")
            assert _rows(spark.table(acc)) == [(2, "US", "***-**-new", 7)]
        # The admin sees that no hidden row was touched and untouched SSNs kept their raw values.
        assert _rows(spark.table(acc)) == [(2, "EU", "222-22-2222", 20), (2, "US", "new", 7),
                                           (4, "EU", "444-44-4444", 40)]
    finally:
        spark.sql(f"DROP TABLE {acc}")


def test_foreach_batch_code_is_checked_like_any_other(spark: Any, rsg: Workspace) -> None:
    location = spark.sql(f"DESCRIBE DETAIL {T}").first().location
    outcomes: list[str] = []

    def each(batch: Any, batch_id: int) -> None:
        session = batch.sparkSession
        outcomes.append(f"rows={sorted(r.id for r in batch.collect())}")
        for attempt in (lambda: session.sql(f"INSERT INTO {T} VALUES (9, 'US', 'x', 1)").collect(),
                        lambda: batch.write.format("delta").mode("append").save(location),
                        lambda: session.table(T).count()):
            try:
                outcomes.append(f"ok {attempt()}")
            except Exception as e:  # noqa: BLE001 - each outcome is asserted below
                outcomes.append(str(e).splitlines()[0])

    with as_principal(spark, "alice"):
        query = (spark.readStream.table(T).writeStream.foreachBatch(each)
                 .option("checkpointLocation", str(rsg.root / "rsg-foreach-cp")).trigger(availableNow=True).start())
        query.awaitTermination(300)
    assert outcomes[0] == "rows=[1, 3]"
    assert _insufficient("MODIFY", f"Table '{T}'") in outcomes[1]
    assert "overlaps with managed storage" in outcomes[2]
    assert outcomes[3] == "ok 2"  # reads inside the batch are filtered too
    assert _rows(spark.table(T)) == RAW  # nothing was written
