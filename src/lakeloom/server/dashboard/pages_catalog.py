"""The catalog browser (``/catalog``): catalogs → schemas → tables, and a table's page with its
columns, owner, grants, row filter and column masks, Delta history, lineage graph (upstream and
downstream) and the runs that wrote it. Everything is read from the catalog's files, the Delta
log and the lineage records; no Spark is started.

A principal sees what Unity Catalog would show it: admins everything, others the objects they
own or hold a privilege on (with their parents), when the grant store is available.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from lakeloom.catalog import list_catalogs, list_schemas, list_tables
from lakeloom.catalog.listing import TableInfo
from lakeloom.catalog.table_facts import delta_columns, delta_history, lineage_of, table_lineage
from lakeloom.server.auth import Principal
from lakeloom.server.dashboard.access import ctx_of, viewable_job_ids
from lakeloom.server.dashboard.catalog_access import browsable, grants_of, policies_of
from lakeloom.server.dashboard.render import display_state, render
from lakeloom.server.dashboard.session import UiUser, ui_user
from lakeloom.server.errors import not_found

router = APIRouter(include_in_schema=False)

NODE_W, NODE_H, GAP_Y, COL_GAP, PAD = 230, 40, 16, 90, 10


@dataclass
class GraphNode:
    name: str
    kind: str
    x: int
    y: int
    href: str | None
    center: bool = False


def _href(name: str, known: set[str]) -> str | None:
    return "/catalog/" + "/".join(name.split(".")) if name in known else None


def lineage_graph(full_name: str, upstream: list[tuple[str, str]], downstream: list[tuple[str, str]],
                  known: set[str]) -> dict[str, Any]:
    """Geometry of the lineage picture: upstream | the table | downstream, edges into and out of it."""
    rows = max(len(upstream), len(downstream), 1)
    height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y
    xs = (PAD, PAD + NODE_W + COL_GAP, PAD + 2 * (NODE_W + COL_GAP))

    def column(items: list[tuple[str, str]], x: int) -> list[GraphNode]:
        top = (height - (len(items) * NODE_H + max(len(items) - 1, 0) * GAP_Y)) // 2
        return [GraphNode(n, k, x, top + i * (NODE_H + GAP_Y), _href(n, known)) for i, (n, k) in enumerate(items)]

    center = GraphNode(full_name, "TABLE", xs[1], (height - NODE_H) // 2, None, center=True)
    ups, downs = column(upstream, xs[0]), column(downstream, xs[2])
    cy = center.y + NODE_H // 2

    def curve(x1: int, y1: int, x2: int, y2: int) -> str:
        mid = (x1 + x2) // 2
        return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"

    edges = [curve(n.x + NODE_W, n.y + NODE_H // 2, center.x, cy) for n in ups]
    edges += [curve(center.x + NODE_W, cy, n.x, n.y + NODE_H // 2) for n in downs]
    return {"nodes": [*ups, center, *downs], "edges": edges, "width": xs[2] + NODE_W + PAD, "height": height,
            "node_w": NODE_W, "node_h": NODE_H}


def _tables(request: Request, who: Principal, catalog: str | None = None,
            schema: str | None = None) -> list[TableInfo]:
    ws = ctx_of(request).engine.workspace
    return [t for t in list_tables(ws, catalog, schema) if browsable(ws, who, "TABLE", t.full_name, t.owner)]


@router.get("/catalog")
def catalogs_page(request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """Every catalog the user may browse, with its schema and table counts."""
    ws = ctx_of(request).engine.workspace
    tables = _tables(request, user.principal)
    rows = []
    for name in list_catalogs(ws):
        schemas = [s for s in list_schemas(ws, name) if browsable(ws, user.principal, "SCHEMA", s.full_name, s.owner,
                                                                  children=[t for t in tables if t.catalog == name])]
        if schemas or browsable(ws, user.principal, "CATALOG", name, None):
            rows.append({"name": name, "schemas": len(schemas), "tables": sum(t.catalog == name for t in tables)})
    return render(request, "catalog.html", level="catalogs", rows=rows, title="Catalog")


@router.get("/catalog/{catalog}")
def schemas_page(catalog: str, request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """The schemas of one catalog."""
    ws = ctx_of(request).engine.workspace
    if catalog.lower() not in list_catalogs(ws):
        raise not_found(f"Catalog '{catalog}' does not exist.")
    tables = _tables(request, user.principal, catalog)
    rows = [{"schema": s, "tables": sum(t.schema == s.name for t in tables)} for s in list_schemas(ws, catalog)
            if browsable(ws, user.principal, "SCHEMA", s.full_name, s.owner,
                         children=[t for t in tables if t.schema == s.name])]
    return render(request, "catalog.html", level="schemas", catalog=catalog.lower(), rows=rows, title=catalog)


@router.get("/catalog/{catalog}/{schema}")
def tables_page(catalog: str, schema: str, request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """The tables and views of one schema."""
    ws = ctx_of(request).engine.workspace
    info = next((s for s in list_schemas(ws, catalog) if s.name == schema.lower()), None)
    if info is None:
        raise not_found(f"Schema '{catalog}.{schema}' does not exist.")
    rows = _tables(request, user.principal, catalog, schema)
    if not rows and not browsable(ws, user.principal, "SCHEMA", info.full_name, info.owner):
        raise not_found(f"Schema '{info.full_name}' does not exist.")
    return render(request, "catalog.html", level="tables", catalog=catalog.lower(), schema=info, rows=rows,
                  title=info.full_name)


def _writes(request: Request, who: Principal, writes: list[Any]) -> list[dict[str, Any]]:
    ctx = ctx_of(request)
    allowed = viewable_job_ids(ctx, who)
    out = []
    for w in writes[:50]:
        run = ctx.store.get_run(int(w.run_id)) if w.run_id and str(w.run_id).isdigit() else None
        if run is None or (allowed is not None and run.job_id not in allowed):
            continue
        out.append({"run_id": run.run_id, "run_name": run.run_name, "task_key": w.task_key, "time": w.event_time,
                    "by": w.created_by, "state": display_state(run.life_cycle_state, run.result_state)})
    return out


@router.get("/catalog/{catalog}/{schema}/{table}")
def table_page(catalog: str, schema: str, table: str, request: Request, user: UiUser = Depends(ui_user)) -> Response:
    """One table or view: columns, owner, grants, policies, history, lineage and the runs that wrote it."""
    ws = ctx_of(request).engine.workspace
    found = next((t for t in list_tables(ws, catalog, schema) if t.name == table.lower()), None)
    if found is None or not browsable(ws, user.principal, "TABLE", found.full_name, found.owner):
        raise not_found(f"Table '{catalog}.{schema}.{table}' does not exist.")
    location = found.local_path
    columns = (delta_columns(location) if location else None) or found.columns
    history = delta_history(location) if location else []
    lineage = lineage_of(table_lineage(ws), found.full_name)
    known = {t.full_name for t in list_tables(ws)}
    graph = lineage_graph(found.full_name, lineage.upstream, lineage.downstream, known)
    return render(request, "catalog_table.html", t=found, columns=columns, history=history, graph=graph,
                  lineage=lineage, writes=_writes(request, user.principal, lineage.writes),
                  grants=grants_of(ws, "TABLE", found.full_name), policies=policies_of(found),
                  title=found.full_name)
