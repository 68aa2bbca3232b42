"""The task DAG of a job: structure checks, ordering and ``--only`` selection."""
from __future__ import annotations

from collections import deque
from typing import Iterable

from lakeloom.spec.models import Job


def upstream_map(job: Job) -> dict[str, list[str]]:
    return {t.task_key: [d.task_key for d in t.depends_on] for t in job.tasks}


def downstream_map(job: Job) -> dict[str, list[str]]:
    down: dict[str, list[str]] = {t.task_key: [] for t in job.tasks}
    for t in job.tasks:
        for d in t.depends_on:
            if d.task_key in down:
                down[d.task_key].append(t.task_key)
    return down


def find_cycle(job: Job) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]`` (each depends on the next), or None.

    Iterative, so a 10,000-task chain does not hit Python's recursion limit.
    Unknown dependencies are ignored (they are reported separately).
    """
    up = upstream_map(job)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in up:
        if root in state:
            continue
        path: list[str] = [root]
        iters = [iter(up[root])]
        state[root] = 1
        while iters:
            dep = next(iters[-1], None)
            if dep is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            if dep not in up or state.get(dep) == 2:
                continue
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            state[dep] = 1
            path.append(dep)
            iters.append(iter(up[dep]))
    return None


def ancestors(job: Job, key: str, up: dict[str, list[str]] | None = None) -> set[str]:
    """Every task ``key`` transitively depends on; pass ``up`` (``upstream_map``) when asking repeatedly."""
    return _closure(up if up is not None else upstream_map(job), [key])


def descendants(job: Job, key: str) -> set[str]:
    return _closure(downstream_map(job), [key])


def _closure(edges: dict[str, list[str]], start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = deque(start)
    while todo:
        for nxt in edges.get(todo.popleft(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def select_only(job: Job, selectors: Iterable[str]) -> set[str]:
    """Resolve ``--only`` selectors: ``key``, ``+key`` (with upstream), ``key+`` (with downstream)."""
    keys = {t.task_key for t in job.tasks}
    chosen: set[str] = set()
    for raw in selectors:
        sel = raw.strip()
        if not sel:
            continue
        up, down = sel.startswith("+"), sel.endswith("+")
        key = sel.strip("+")
        if key not in keys:
            raise ValueError(f"--only: unknown task {key!r} (tasks: {', '.join(sorted(keys))})")
        chosen.add(key)
        if up:
            chosen |= ancestors(job, key)
        if down:
            chosen |= descendants(job, key)
    return chosen


def topological_order(job: Job) -> list[str]:
    """Task keys in dependency order (declaration order breaks ties)."""
    up = upstream_map(job)
    indeg = {k: len([d for d in v if d in up]) for k, v in up.items()}
    down = downstream_map(job)
    ready = deque(k for k in up if indeg[k] == 0)
    order: list[str] = []
    while ready:
        k = ready.popleft()
        order.append(k)
        for n in down[k]:
            indeg[n] -= 1
            if indeg[n] == 0:
                ready.append(n)
    return order
