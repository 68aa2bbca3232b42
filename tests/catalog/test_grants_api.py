"""The Python grant store (REST, CLI, dbutils.fs use it): same file and rules as the JVM, no Spark."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from lakeloom.catalog import identity
from lakeloom.catalog.audit import read_events
from lakeloom.catalog.grants import GrantError, GrantStore, PermissionDenied, Securable
from lakeloom.config import Workspace


def _entry(ws: Workspace, rel: str, owner: str | None) -> None:
    path = ws.catalog_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": path.stem, "owner": owner}))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """main (no recorded owner: the admins'), main.sales (owned by sam), main.sales.orders (owned by olga)."""
    w = Workspace(root=tmp_path, settings={"governance": {"groups": {"analysts": ["alice", "bob"]}}})
    _entry(w, "main/catalog.json", None)
    _entry(w, "main/sales/schema.json", "sam")
    _entry(w, "main/sales/tables/orders.json", "olga")
    return w


ORDERS = Securable.of("table", "main.sales.orders")
SALES = Securable.of("schema", "main.sales")
MAIN = Securable.of("catalog", "main")


def test_use_privileges_then_inherited_grants(ws: Workspace) -> None:
    store = GrantStore(ws)
    with pytest.raises(PermissionDenied, match="User does not have USE CATALOG on Catalog 'main'."):
        store.check("alice", "SELECT", ORDERS)
    store.grant(MAIN, "analysts", ["USE CATALOG"])
    with pytest.raises(PermissionDenied, match="USE SCHEMA on Schema 'main.sales'"):
        store.check("alice", "SELECT", ORDERS)
    store.grant(SALES, "analysts", ["use_schema", "SELECT"])  # covers current and future tables
    store.check("alice", "SELECT", ORDERS)
    store.check("bob", "SELECT", Securable.of("table", "main.sales.not_created_yet"))
    with pytest.raises(PermissionDenied, match="MODIFY on Table 'main.sales.orders'"):
        store.check("alice", "MODIFY", ORDERS)
    assert store.effective_privileges("alice", ORDERS) == ["SELECT"]
    store.revoke(SALES, "analysts", ["SELECT"])
    with pytest.raises(PermissionDenied):
        store.check("alice", "SELECT", ORDERS)


def test_owners_admins_and_manage(ws: Workspace) -> None:
    store = GrantStore(ws)
    assert store.owner(ORDERS) == "olga" and store.owner(MAIN) is None
    assert store.effective_privileges("olga", ORDERS) == ["ALL_PRIVILEGES"]
    assert store.effective_privileges(identity.os_user(), MAIN) == ["ALL_PRIVILEGES"]  # admin: no recorded owner
    assert store.holds("sam", "MANAGE", ORDERS)  # the schema's owner manages its tables ...
    assert not store.holds("sam", "SELECT", ORDERS)  # ... but ownership is not inherited
    with pytest.raises(PermissionDenied, match="MANAGE on Table 'main.sales.orders'"):
        store.grant(ORDERS, "bob", ["SELECT"], actor="alice")
    store.grant(ORDERS, "bob", ["SELECT"], actor="olga")
    store.set_owner(ORDERS, "analysts", actor="sam")
    assert json.loads((ws.catalog_dir / "main/sales/tables/orders.json").read_text())["owner"] == "analysts"
    assert store.is_owner("alice", ORDERS)  # through the owning group
    assert store.show(ORDERS) == [
        {"principal": "analysts", "action_type": "OWN", "object_type": "TABLE", "object_key": "main.sales.orders"},
        {"principal": "bob", "action_type": "SELECT", "object_type": "TABLE", "object_key": "main.sales.orders"}]
    actions = [(e["action_name"], e["response"]["status_code"]) for e in read_events(ws)]
    assert actions == [("updatePermissions", 403), ("updatePermissions", 200), ("updateTables", 200)]


def test_bad_requests_name_what_is_wrong(ws: Workspace) -> None:
    store = GrantStore(ws)
    with pytest.raises(GrantError, match="not applicable to Table 'main.sales.orders'"):
        store.grant(ORDERS, "bob", ["USE CATALOG"])
    with pytest.raises(GrantError, match="unknown privilege 'READ'"):
        store.grant(ORDERS, "bob", ["READ"])
    with pytest.raises(GrantError, match="unknown securable type 'warehouse'"):
        Securable.of("warehouse", "x")
    with pytest.raises(GrantError, match="expected a name of 3 part"):
        Securable.of("table", "main.orders")
    with pytest.raises(GrantError, match="does not exist"):
        store.grant(Securable.of("table", "main.sales.nope"), "bob", ["SELECT"])


def _grant_many(root: str, who: str) -> None:
    store = GrantStore(Workspace(root=Path(root)))
    for i in range(25):
        store.grant(ORDERS, f"{who}{i}", ["SELECT"])


def test_concurrent_writers_lose_no_grant(ws: Workspace) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_grant_many, args=(str(ws.root), who)) for who in ("p", "q")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(GrantStore(ws).grants_on(ORDERS)) == 50
