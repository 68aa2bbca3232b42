"""Per-cell overhead of lakeloom's notebook executor against plain ``exec``.

Builds a source notebook of N small Python cells, runs it through the notebook_task
plugin (parse, per-cell compile with file line numbers, stdout capture, output
recording, executed-notebook .ipynb write) and compares with ``exec`` of the same
cell sources in one namespace, in the same process. No Spark: the cells are pure
Python, so the figure is the executor's own cost. Goal: <= 5 ms per cell.

    .venv/bin/python benchmarks/notebook_cell_overhead.py [--cells 200] [--repeat 5]
"""
from __future__ import annotations

import argparse
import builtins
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

from lakeloom.config import Workspace
from lakeloom.plugin_api import TaskContext, TaskValues
from lakeloom.plugin_api.context import activate
from lakeloom.plugins.notebook_task import NotebookTaskSettings, run_notebook_task
from lakeloom.plugins.notebook_task.parser import parse_notebook

CELL = "x_{i} = sum(range(100))\nif x_{i} < 0:\n    print('never')\ny = x_{i} * 2"


class _Values:
    def set(self, task_key: str, key: str, value: object) -> None: ...

    def get(self, task_key: str, key: str) -> object:
        raise KeyError(key)


def _ctx(root: Path, run_id: int) -> TaskContext:
    return TaskContext(
        run_id=run_id, job_id=1, job_name="bench", task_key="nb", task_run_id=run_id, attempt_number=0,
        execution_count=1, parameters={}, job_parameters={}, task_values=TaskValues(_Values(), "nb"),
        logger=logging.getLogger("bench"), workspace=Workspace(root=root), base_dir=root,
        cancel_event=threading.Event(), spark_provider=lambda: None, resolver=lambda s: s,
        services=None)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lakeloom-bench-"))
    nb = root / "bench.py"
    nb.write_text("# Databricks notebook source\n" + "\n\n# COMMAND ----------\n\n".join(
        CELL.format(i=i) for i in range(args.cells)) + "\n")
    sources = [c.source for c in parse_notebook(nb).cells]

    def plain() -> float:
        ns: dict[str, object] = {"__builtins__": builtins}
        t = time.perf_counter()
        for i, src in enumerate(sources):
            exec(compile(src, f"<cell {i}>", "exec"), ns)
        return time.perf_counter() - t

    def lakeloom(run_id: int) -> float:
        ctx = _ctx(root, run_id)
        with activate(ctx):
            t = time.perf_counter()
            run_notebook_task(ctx, NotebookTaskSettings(notebook_path="bench.py"))
            return time.perf_counter() - t

    plain(), lakeloom(0)  # warm up imports and caches
    base = [plain() for _ in range(args.repeat)]
    ours = [lakeloom(i + 1) for i in range(args.repeat)]
    b, o = statistics.median(base), statistics.median(ours)
    per_cell = (o - b) / args.cells * 1000
    print(f"cells: {args.cells}, repeats: {args.repeat} (medians)")
    print(f"exec of the cell sources : {b * 1000:8.2f} ms  ({b / args.cells * 1e6:7.1f} us/cell)")
    print(f"lakeloom notebook task   : {o * 1000:8.2f} ms  ({o / args.cells * 1e6:7.1f} us/cell)")
    print(f"overhead per cell        : {per_cell * 1000:8.1f} us  (goal <= 5000 us)")
    print(f"ratio lakeloom / exec    : {o / b:8.1f}x")
    raise SystemExit(0 if per_cell <= 5 else 1)


if __name__ == "__main__":
    main()
