"""Unity Catalog's REST API on serve, driven by the real databricks-sdk (w.catalogs, w.schemas,
w.tables, w.grants) against a live server on the shared Spark session's workspace, and the
`lakeloom grants` CLI on the same grant store."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service.catalog import PermissionsChange, Privilege

from serving import WorkspaceServer

from lakeloom.catalog.audit import read_audit_events
from lakeloom.catalog.identity import os_user
from lakeloom.cli.main import cli
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def uc(spark: Any, spark_workspace: Workspace) -> Iterator[tuple[WorkspaceServer, WorkspaceClient, WorkspaceClient]]:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.uc_api COMMENT 'for the sdk'")
    spark.sql("CREATE OR REPLACE TABLE main.uc_api.orders (id BIGINT, region STRING) COMMENT 'orders'")
    srv = WorkspaceServer(spark_workspace)
    admin = WorkspaceClient(host=srv.url, token=srv.store.create_token(os_user())[1], auth_type="pat")
    bob = WorkspaceClient(host=srv.url, token=srv.store.create_token("bob")[1], auth_type="pat")
    yield srv, admin, bob
    srv.close()
    spark.sql("DROP SCHEMA IF EXISTS main.uc_api CASCADE")


def test_catalogs_schemas_tables_in_unity_catalog_shapes(uc: Any) -> None:
    _, admin, bob = uc
    assert "main" in [c.name for c in admin.catalogs.list()]
    assert admin.catalogs.get("main").catalog_type.value == "MANAGED_CATALOG"
    schema = next(s for s in admin.schemas.list("main") if s.name == "uc_api")
    assert (schema.full_name, schema.comment) == ("main.uc_api", "for the sdk")
    [table] = list(admin.tables.list("main", "uc_api"))
    assert (table.full_name, table.table_type.value, table.data_source_format.value) == (
        "main.uc_api.orders", "MANAGED", "DELTA")
    got = admin.tables.get("main.uc_api.orders")
    assert [(c.name, c.type_name.value, c.position) for c in got.columns] == [("id", "LONG", 0), ("region", "STRING", 1)]
    assert got.owner == os_user() and got.comment == "orders"
    with pytest.raises(NotFound):
        admin.tables.get("main.uc_api.nope")
    assert "main" not in [c.name for c in bob.catalogs.list()]
    with pytest.raises(PermissionDenied, match="User does not have USE CATALOG on Catalog 'main'."):
        list(bob.schemas.list("main"))
    with pytest.raises(PermissionDenied, match="User does not have USE CATALOG on Catalog 'main'."):
        bob.tables.get("main.uc_api.orders")


def test_grants_through_the_sdk_take_effect_and_are_audited(uc: Any, spark_workspace: Workspace) -> None:
    _, admin, bob = uc
    admin.grants.update("catalog", "main", changes=[PermissionsChange(principal="bob", add=[Privilege.USE_CATALOG])])
    admin.grants.update("schema", "main.uc_api", changes=[
        PermissionsChange(principal="bob", add=[Privilege.USE_SCHEMA])])
    updated = admin.grants.update("table", "main.uc_api.orders", changes=[
        PermissionsChange(principal="bob", add=[Privilege.SELECT, Privilege.MODIFY])])
    assert [(a.principal, sorted(p.value for p in a.privileges)) for a in updated.privilege_assignments] == [
        ("bob", ["MODIFY", "SELECT"])]
    assert bob.tables.get("main.uc_api.orders").name == "orders"  # bob may now see it
    effective = admin.grants.get_effective("table", "main.uc_api.orders", principal="bob")
    privileges = {(p.privilege.value, p.inherited_from_name) for a in effective.privilege_assignments
                  for p in a.privileges}
    assert privileges >= {("SELECT", None), ("USE_SCHEMA", "main.uc_api"), ("USE_CATALOG", "main")}
    with pytest.raises(PermissionDenied, match=r"User does not have MANAGE on Table 'main.uc_api.orders'\."):
        bob.grants.update("table", "main.uc_api.orders", changes=[
            PermissionsChange(principal="bob", add=[Privilege.ALL_PRIVILEGES])])
    admin.grants.update("table", "main.uc_api.orders", changes=[
        PermissionsChange(principal="bob", remove=[Privilege.MODIFY])])
    got = admin.grants.get("table", "main.uc_api.orders", principal="bob")
    assert [(a.principal, [p.value for p in a.privileges]) for a in got.privilege_assignments] == [("bob", ["SELECT"])]
    events = [e for e in read_audit_events(spark_workspace) if e["action_name"] == "updatePermissions"
              and e["request_params"].get("full_name") == "main.uc_api.orders"]
    assert {e["response"]["status_code"] for e in events} == {200, 403}


def test_grants_cli_show_grant_revoke(uc: Any, spark_workspace: Workspace) -> None:
    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--workspace", str(spark_workspace.root), "grants", *args])

    granted = run("grant", "table", "main.uc_api.orders", "carol", "SELECT", "MODIFY")
    assert granted.exit_code == 0, granted.output
    shown = run("show", "table", "main.uc_api.orders", "--principal", "carol", "--json")
    rows = json.loads(shown.output)
    assert {(r["principal"], r["action_type"]) for r in rows} == {("carol", "SELECT"), ("carol", "MODIFY")}
    assert run("revoke", "table", "main.uc_api.orders", "carol", "MODIFY").exit_code == 0
    rows = json.loads(run("show", "table", "main.uc_api.orders", "--principal", "carol", "--json").output)
    assert [r["action_type"] for r in rows] == ["SELECT"]
    bad = run("grant", "table", "main.uc_api.orders", "carol", "FLY")
    assert bad.exit_code == 2 and "unknown privilege 'FLY'" in bad.output
    missing = run("show", "table", "main.uc_api.nope")
    assert missing.exit_code == 1 and "Table 'main.uc_api.nope' does not exist" in missing.output
