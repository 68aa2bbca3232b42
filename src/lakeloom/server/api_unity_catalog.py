"""Unity Catalog's REST API on ``serve``, in its shapes, so databricks-sdk's ``w.grants``,
``w.catalogs``, ``w.schemas`` and ``w.tables`` work against lakeloom:

- ``GET|PATCH /api/2.1/unity-catalog/permissions/{securable_type}/{full_name}``
- ``GET /api/2.1/unity-catalog/effective-permissions/{securable_type}/{full_name}``
- ``GET /api/2.1/unity-catalog/catalogs[/{name}]``, ``schemas[/{full_name}]``, ``tables[/{full_name}]``

Grants come from :mod:`lakeloom.catalog.grants` (the store the JVM enforces); metadata from the
catalog's files (:mod:`lakeloom.catalog.listing`). A denial is ``403 PERMISSION_DENIED`` with
Databricks' sentence (``User does not have MANAGE on Table 'main.s.t'.``). Lists show what the
caller may browse: what it owns or holds a privilege on (admins: everything).
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from lakeloom.catalog import get_table, list_catalogs, list_schemas, list_tables
from lakeloom.catalog.grants import GrantError, GrantStore, PermissionDenied, Securable, denial
from lakeloom.catalog.listing import SchemaInfo, TableInfo
from lakeloom.catalog.table_facts import delta_columns
from lakeloom.server.auth import Principal, authenticate
from lakeloom.server.errors import ApiError, denied, invalid
from lakeloom.server.uc_shapes import catalog_info, column_infos, schema_info, table_info

router = APIRouter()


def _store(request: Request) -> GrantStore:
    ctx = request.app.state.ctx
    store = getattr(ctx, "_grant_store", None)
    if store is None:
        store = ctx._grant_store = GrantStore(ctx.engine.workspace, authorize_hook=ctx.engine.pm.hook.lakeloom_authorize)
    return store


def _securable(securable_type: str, full_name: str) -> Securable:
    try:
        return Securable.of(securable_type, full_name)
    except GrantError as e:
        raise invalid(str(e)) from None


def _missing(s: Securable) -> ApiError:
    code = {"CATALOG": "CATALOG_DOES_NOT_EXIST", "SCHEMA": "SCHEMA_DOES_NOT_EXIST"}.get(s.kind, "TABLE_DOES_NOT_EXIST")
    label = s.describe().split(" ", 1)[0]
    return ApiError(404, code, f"{label} '{s.full_name}' does not exist.")


def _visible(store: GrantStore, who: Principal, s: Securable) -> bool:
    """Unity Catalog shows an object to its owner and to anyone holding a privilege on it."""
    return bool(store.effective_privileges(who.name, s))


_USE = {"CATALOG": "USE_CATALOG", "SCHEMA": "USE_SCHEMA"}


def _require_visible(store: GrantStore, who: Principal, s: Securable) -> None:
    """404 for a missing object; 403 naming the first missing USE privilege on its parents, else
    (when the caller holds nothing on it) the privilege reading it needs."""
    if not store.exists(s):
        raise _missing(s)
    for parent in s.ancestors:
        if not store.holds(who.name, _USE[parent.kind], parent):
            raise denied(str(denial(_USE[parent.kind], parent)))
    if not _visible(store, who, s):
        raise denied(str(denial(_USE.get(s.kind, "SELECT"), s)))


def _assignments(store: GrantStore, s: Securable, principal: str | None) -> dict[str, Any]:
    grants = store.grants_on(s)
    return {"privilege_assignments": [{"principal": p, "privileges": privs} for p, privs in sorted(grants.items())
                                      if principal is None or p == principal]}


@router.get("/permissions/{securable_type}/{full_name}")
def get_permissions(securable_type: str, full_name: str, request: Request, principal: str | None = None,
                    who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Grants made directly on the securable (not inherited), optionally for one principal."""
    store = _store(request)
    s = _securable(securable_type, full_name)
    _require_visible(store, who, s)
    return _assignments(store, s, principal)


@router.patch("/permissions/{securable_type}/{full_name}")
def update_permissions(securable_type: str, full_name: str, body: dict[str, Any], request: Request,
                       who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Apply ``changes: [{principal, add: [...], remove: [...]}]``; needs MANAGE (or ownership)."""
    store = _store(request)
    s = _securable(securable_type, full_name)
    if not store.exists(s):
        raise _missing(s)
    changes = body.get("changes") or []
    if not isinstance(changes, list) or not all(isinstance(c, dict) and c.get("principal") for c in changes):
        raise invalid("changes: a list of {principal, add, remove} objects, each naming a principal")
    for change in changes:
        try:
            store.update(s, str(change["principal"]), add=change.get("add") or [], remove=change.get("remove") or [],
                         actor=who.name)
        except PermissionDenied as e:
            raise denied(str(e)) from None
        except GrantError as e:
            raise invalid(str(e)) from None
    return {} if body.get("omit_permissions_in_response") else _assignments(store, s, None)


@router.get("/effective-permissions/{securable_type}/{full_name}")
def effective_permissions(securable_type: str, full_name: str, request: Request, principal: str | None = None,
                          who: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Grants on the securable and those inherited from its schema and catalog."""
    store = _store(request)
    s = _securable(securable_type, full_name)
    _require_visible(store, who, s)
    by_principal: dict[str, list[dict[str, Any]]] = {}
    for on in [s, *reversed(s.ancestors)]:
        for p, privs in sorted(store.grants_on(on).items()):
            if principal is not None and p != principal:
                continue
            inherited = {} if on == s else {"inherited_from_type": on.kind, "inherited_from_name": on.full_name}
            by_principal.setdefault(p, []).extend({"privilege": priv, **inherited} for priv in privs)
    return {"privilege_assignments": [{"principal": p, "privileges": v} for p, v in by_principal.items()]}


# ---- catalogs, schemas, tables ------------------------------------------------------------------


def _workspace(request: Request) -> Any:
    return request.app.state.ctx.engine.workspace


@router.get("/catalogs")
def list_catalogs_api(request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    store, ws = _store(request), _workspace(request)
    infos = [catalog_info(ws, name, store.owner(Securable("CATALOG", (name,)))) for name in list_catalogs(ws)]
    return {"catalogs": [c for c in infos if _visible(store, who, Securable("CATALOG", (c["name"],)))]}


@router.get("/catalogs/{name}")
def get_catalog(name: str, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _store(request)
    s = _securable("catalog", name)
    _require_visible(store, who, s)
    return catalog_info(_workspace(request), s.full_name, store.owner(s))


def _schema(s: SchemaInfo, request: Request) -> dict[str, Any]:
    return schema_info(s, _workspace(request))


@router.get("/schemas")
def list_schemas_api(catalog_name: str, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _store(request)
    cat = _securable("catalog", catalog_name)
    _require_visible(store, who, cat)
    return {"schemas": [_schema(s, request) for s in list_schemas(_workspace(request), cat.full_name)
                        if _visible(store, who, Securable("SCHEMA", (s.catalog, s.name)))]}


@router.get("/schemas/{full_name}")
def get_schema(full_name: str, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _store(request)
    s = _securable("schema", full_name)
    _require_visible(store, who, s)
    found = next(i for i in list_schemas(_workspace(request), s.parts[0]) if i.name == s.parts[1])
    return _schema(found, request)


def _table(t: TableInfo) -> dict[str, Any]:
    columns = (delta_columns(t.local_path) if t.local_path else None) or t.columns
    return table_info(t, column_infos(columns, t))


@router.get("/tables")
def list_tables_api(catalog_name: str, schema_name: str, request: Request,
                    who: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _store(request)
    sch = _securable("schema", f"{catalog_name}.{schema_name}")
    _require_visible(store, who, sch)
    tables = list_tables(_workspace(request), sch.parts[0], sch.parts[1])
    return {"tables": [_table(t) for t in tables if _visible(store, who, Securable("TABLE", (t.catalog, t.schema, t.name)))]}


@router.get("/tables/{full_name}")
def get_table_api(full_name: str, request: Request, who: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _store(request)
    s = _securable("table", full_name)
    _require_visible(store, who, s)
    found = get_table(_workspace(request), s.full_name)
    if found is None:
        raise _missing(s)
    return _table(found)
