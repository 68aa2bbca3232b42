"""Geometry of the two SVG pictures: the task DAG (layered, left to right) and the Gantt
timeline of task attempts. Only numbers and strings come out of here; the templates
draw them, so every label goes through autoescaping."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from lakeloom.server.dashboard.render import display_state, fmt_duration, state_class, state_label, task_kind

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 184, 60, 64, 18, 12


@dataclass
class Node:
    key: str
    kind: str
    x: int
    y: int
    state: str
    cls: str
    href: str
    note: str = ""  # run_if other than ALL_SUCCESS, condition outcome, attempts
    faded: bool = False
    sub: str = ""  # second line: kind, and the state on run pages


@dataclass
class Edge:
    d: str
    label: str = ""
    lx: int = 0
    ly: int = 0


@dataclass
class Dag:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def _ranks(keys: list[str], deps: dict[str, list[str]]) -> dict[str, int]:
    rank: dict[str, int] = {}

    def visit(k: str, seen: frozenset[str]) -> int:
        if k in rank:
            return rank[k]
        if k in seen:  # a cycle never passes validation; do not loop if one slips through
            return 0
        parents = [p for p in deps.get(k, []) if p in deps]
        rank[k] = 0 if not parents else 1 + max(visit(p, seen | {k}) for p in parents)
        return rank[k]

    for k in keys:
        visit(k, frozenset())
    return rank


def layout_dag(tasks: list[dict[str, Any]], states: dict[str, str], href: Callable[[str], str], *,
               notes: dict[str, str] | None = None, faded: set[str] | None = None, show_state: bool = True) -> Dag:
    """Place ``tasks`` (job settings' task dicts) in layers by longest dependency path;
    within a layer, order by the mean position of the parents (two sweeps)."""
    keys = [t["task_key"] for t in tasks]
    deps = {t["task_key"]: [d["task_key"] for d in t.get("depends_on") or []] for t in tasks}
    rank = _ranks(keys, deps)
    layers: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for k in keys:
        layers[rank[k]].append(k)
    pos = {k: i for layer in layers for i, k in enumerate(layer)}
    for _ in range(2):
        for layer in layers[1:]:
            layer.sort(key=lambda k: (sum(pos[p] for p in deps[k] if p in pos) / max(1, len(deps[k])), pos[k]))
            pos.update({k: i for i, k in enumerate(layer)})
    tallest = max((len(layer) for layer in layers), default=0)
    height = PAD * 2 + max(1, tallest) * (NODE_H + GAP_Y) - GAP_Y
    xy: dict[str, tuple[int, int]] = {}
    for r, layer in enumerate(layers):
        offset = (tallest - len(layer)) * (NODE_H + GAP_Y) // 2
        for i, k in enumerate(layer):
            xy[k] = (PAD + r * (NODE_W + GAP_X), PAD + offset + i * (NODE_H + GAP_Y))
    by_key = {t["task_key"]: t for t in tasks}
    nodes = []
    for k in keys:
        t = by_key[k]
        st = states.get(k, "DISABLED" if t.get("disabled") else "NOT_STARTED")
        note = (notes or {}).get(k, "")
        run_if = t.get("run_if")
        if run_if and run_if != "ALL_SUCCESS":
            note = f"{run_if}" + (f" · {note}" if note else "")
        kind = task_kind(t)
        sub = f"{kind[:12]} · {state_label(st)}" if show_state else kind
        nodes.append(Node(k, kind, xy[k][0], xy[k][1], st if show_state else "", state_class(st) if show_state
                          else "pending", href(k), note, k in (faded or set()), sub))
    edges = []
    for t in tasks:
        x2, y2 = xy[t["task_key"]]
        for d in t.get("depends_on") or []:
            if d["task_key"] not in xy:
                continue
            x1, y1 = xy[d["task_key"]]
            sx, sy, ex, ey = x1 + NODE_W, y1 + NODE_H // 2, x2, y2 + NODE_H // 2
            mid = (sx + ex) // 2
            outcome = d.get("outcome") or ""
            edges.append(Edge(f"M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}", outcome, mid, (sy + ey) // 2 - 4))
    width = PAD * 2 + max(1, len(layers)) * (NODE_W + GAP_X) - GAP_X
    return Dag(nodes, edges, width, height)


# --- Gantt ----------------------------------------------------------------------------

LABEL_W, PLOT_W, ROW_H, AXIS_H = 170, 760, 22, 24
_STEPS_MS = [1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
             1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000]


@dataclass
class Bar:
    x: float
    w: float
    y: int
    cls: str
    title: str
    href: str
    label: str = ""
    repair: bool = False


@dataclass
class Gantt:
    rows: list[tuple[str, int, str]]  # (label, y, href)
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    marks: list[tuple[float, str]]  # repair starts
    width: int
    height: int
    label_w: int = LABEL_W
    truncated: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _tick_label(ms: int) -> str:
    if ms % 3_600_000 == 0 and ms:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000}m"
    return f"{ms / 1000:g}s"


def layout_gantt(attempts: list[dict[str, Any]], run_start: int, now_ms: int, href: Callable[[dict[str, Any]], str],
                 *, repairs: list[dict[str, Any]] | None = None, row_href: Callable[[str], str] | None = None,
                 max_rows: int = 120) -> Gantt:
    """One row per task (and per for-each iteration), one bar per attempt, on a time axis
    starting at the run's start. Attempts of repairs are flagged (drawn dashed)."""
    rows: dict[tuple[str, int | None], int] = {}
    truncated = 0
    for a in attempts:
        key = (a["task_key"], a.get("iteration"))
        if key not in rows:
            if len(rows) >= max_rows:
                truncated += 1
                continue
            rows[key] = len(rows)
    end = max([now_ms if a["end_time"] is None else a["end_time"] for a in attempts] + [run_start + 1000])
    span = max(1000, end - run_start)
    scale = PLOT_W / span
    bars = []
    for a in attempts:
        key = (a["task_key"], a.get("iteration"))
        if key not in rows:
            continue
        a_start = a["start_time"] or run_start
        a_end = a["end_time"] if a["end_time"] is not None else now_ms
        st = display_state(a["life_cycle_state"], a["result_state"])
        x = LABEL_W + (a_start - run_start) * scale
        w = max(2.0, (a_end - a_start) * scale)
        repair = a.get("repair_id") is not None
        title = (f"{a['task_key']}" + (f" [{a['iteration']}]" if a.get("iteration") is not None else "")
                 + f" attempt {a['attempt_number']}" + (f" (repair {a['repair_id']})" if repair else "")
                 + f": {state_label(st)}, {fmt_duration(a_end - a_start)}")
        label = f"#{a['attempt_number']}" if w > 26 else ""
        bars.append(Bar(round(x, 1), round(w, 1), AXIS_H + rows[key] * ROW_H + 4, state_class(st), title,
                        href(a), label, repair))
    step = next((s for s in _STEPS_MS if span / s <= 8), _STEPS_MS[-1])
    ticks = [(round(LABEL_W + t * scale, 1), _tick_label(t)) for t in range(0, span + 1, step)]
    marks = [(round(LABEL_W + (r["start_time"] - run_start) * scale, 1), f"repair {r['repair_id']}")
             for r in repairs or [] if r["start_time"] >= run_start]
    row_list = [(k if it is None else f"{k} [{it}]", AXIS_H + i * ROW_H, (row_href or (lambda _k: "#"))(k))
                for (k, it), i in rows.items()]
    height = AXIS_H + max(1, len(rows)) * ROW_H + 8
    return Gantt(row_list, bars, ticks, marks, LABEL_W + PLOT_W + 20, height, truncated=truncated)


def duration_chart(runs: list[dict[str, Any]], href: Callable[[int], str], *, width: int = 760,
                   height: int = 120) -> dict[str, Any]:
    """Bars of run durations, oldest left (the job page's history chart)."""
    runs = list(reversed(runs))
    longest = max([r["duration"] or 0 for r in runs] + [1])
    n = max(1, len(runs))
    bw = max(3.0, min(24.0, (width - 40) / n - 2))
    bars = []
    for i, r in enumerate(runs):
        h = max(2.0, (r["duration"] or 0) / longest * (height - 24))
        bars.append({"x": round(40 + i * (bw + 2), 1), "y": round(height - 16 - h, 1), "w": round(bw, 1),
                     "h": round(h, 1), "cls": state_class(r["state"]), "href": href(r["run_id"]),
                     "title": f"run {r['run_id']}: {state_label(r['state'])}, {fmt_duration(r['duration'])}"})
    return {"bars": bars, "width": width, "height": height, "max_label": fmt_duration(longest)}
