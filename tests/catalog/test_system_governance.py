"""The ``system`` catalog governed as Unity Catalog governs it, on the session's Spark as two
principals: the OS user (the workspace's metastore admin) and ``carol`` (group ``auditors``).
Admins read the system tables; others need USE SCHEMA + SELECT, which only an admin can grant."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lakeloom.catalog import identity
from lakeloom.catalog.audit import read_events
from lakeloom.catalog.grants import GrantError, GrantStore, PermissionDenied, Securable
from lakeloom.catalog.identity import as_principal
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


def _insufficient(what: str) -> str:
    return f"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have {what}. SQLSTATE: 42501"


@pytest.fixture(scope="module")
def ws(spark: Any, spark_workspace: Workspace) -> Iterator[Workspace]:
    ws = Workspace(root=spark_workspace.root, settings={**spark_workspace.settings,
                                                        "governance": {"groups": {"auditors": ["carol"]}}})
    identity.publish(ws)
    yield ws
    identity.publish(spark_workspace)


def _denied(action: Any, text: str) -> None:
    with pytest.raises(Exception) as info:
        action()
    assert text in str(info.value)


def test_only_admins_read_system_tables_until_an_admin_grants_them(spark: Any, ws: Workspace) -> None:
    spark.sql("SELECT count(*) FROM system.access.audit").collect()  # the admin reads without any grant
    with as_principal(spark, "carol"):
        _denied(lambda: spark.sql("SELECT * FROM system.access.audit").collect(),
                _insufficient("USE SCHEMA on Schema 'system.access'"))
        _denied(lambda: spark.table("system.lakeflow.jobs").collect(),
                _insufficient("USE SCHEMA on Schema 'system.lakeflow'"))
        _denied(lambda: spark.sql("GRANT SELECT ON TABLE system.access.audit TO `carol`"),
                _insufficient("MANAGE on Table 'system.access.audit'"))
    spark.sql("GRANT USE SCHEMA ON SCHEMA system.access TO auditors")
    spark.sql("GRANT SELECT ON TABLE system.access.audit TO auditors")
    try:
        with as_principal(spark, "carol"):
            # carol reads her own denial back: denials are appended to the audit at once.
            rows = spark.sql("""SELECT request_params['table_full_name'] AS t, response.status_code AS status
                                FROM system.access.audit WHERE user_identity.email = 'carol'""").collect()
            assert ("system.access.audit", 403) in {(r.t, r.status) for r in rows}
            _denied(lambda: spark.table("system.access.table_lineage").collect(),
                    _insufficient("SELECT on Table 'system.access.table_lineage'"))
    finally:
        spark.sql("REVOKE SELECT ON TABLE system.access.audit FROM auditors")
        spark.sql("REVOKE USE SCHEMA ON SCHEMA system.access FROM auditors")
    with as_principal(spark, "carol"):
        _denied(lambda: spark.table("system.access.audit").collect(), _insufficient("USE SCHEMA on Schema 'system.access'"))
    grants = [e for e in read_events(ws) if e["action_name"] == "updatePermissions"
              and e["request_params"].get("securable_full_name") == "system.access.audit"]
    decisions = [(e["user_identity"]["email"], e["response"]["status_code"]) for e in grants]
    assert ("carol", 403) in decisions and decisions.count((identity.os_user(), 200)) >= 2


def test_only_read_privileges_can_be_granted_and_everyone_uses_the_catalog(spark: Any, ws: Workspace) -> None:
    _denied(lambda: spark.sql("GRANT MODIFY ON TABLE system.access.audit TO `carol`"),
            "Privilege MODIFY is not applicable to Table 'system.access.audit'")
    _denied(lambda: spark.sql("GRANT SELECT ON TABLE system.access.nope TO `carol`"), "TABLE_OR_VIEW_NOT_FOUND")
    _denied(lambda: spark.sql("ALTER SCHEMA system.access OWNER TO `carol`"), "its owner cannot be changed")
    shown = {tuple(r) for r in spark.sql("SHOW GRANTS ON CATALOG system").collect()}
    assert ("account users", "USE CATALOG", "CATALOG", "system") in shown

    # The Python grant store (REST, CLI) follows the same rules.
    store = GrantStore(ws)
    audit_table = Securable.of("table", "system.access.audit")
    assert store.exists(audit_table) and not store.exists(Securable.of("table", "system.access.nope"))
    assert store.effective_privileges("carol", Securable.of("catalog", "system")) == ["USE_CATALOG"]
    with pytest.raises(PermissionDenied, match="USE SCHEMA on Schema 'system.access'"):
        store.check("carol", "SELECT", audit_table)
    with pytest.raises(PermissionDenied, match="MANAGE on Table 'system.access.audit'"):
        store.grant(audit_table, "carol", ["SELECT"], actor="carol")
    with pytest.raises(GrantError, match="MODIFY is not applicable"):
        store.grant(audit_table, "carol", ["MODIFY"], actor=identity.os_user())
    store.grant(Securable.of("schema", "system.access"), "auditors", ["USE_SCHEMA", "SELECT"], actor=identity.os_user())
    try:
        store.check("carol", "SELECT", audit_table)
        with as_principal(spark, "carol"):  # a grant from another writer applies to the next statement
            spark.table("system.access.column_lineage").limit(1).collect()
    finally:
        store.revoke(Securable.of("schema", "system.access"), "auditors", ["ALL_PRIVILEGES"], actor=identity.os_user())
    with pytest.raises(PermissionDenied):
        store.check("carol", "SELECT", audit_table)
