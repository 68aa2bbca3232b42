"""Databricks' cell magics: ``%sql``, ``%run``, ``%fs``, ``%sh`` (IPython magics such as
``%pip`` are Python, see :mod:`.shell`).

``%md`` and ``%python`` are handled by the parser/executor directly.
"""
from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import threading
from typing import TYPE_CHECKING, Any

from lakeloom.plugins.notebook_task.parser import Cell, Notebook, parse_notebook, parse_run_args
from lakeloom.runtime.dbutils import dbutils
from lakeloom.runtime.dbutils.display import dataframe_bundle, table_bundle
from lakeloom.runtime.dbutils.notebook import resolve_notebook_path
from lakeloom.runtime.dbutils.widgets import widget_state

if TYPE_CHECKING:
    from lakeloom.plugins.notebook_task.executor import CellRecord, NotebookRunner


class MagicError(RuntimeError):
    """A magic cell could not run (unsupported magic, bad arguments, failed command)."""


CONDA_MESSAGE = "%conda is not supported (Databricks Runtime removed it too): use %pip install"


def run_magic(runner: NotebookRunner, nb: Notebook, cell: Cell, record: CellRecord) -> None:
    """Execute a non-Python cell of ``nb``."""
    kind = cell.kind
    if kind == "sql":
        return _sql(runner, nb, cell, record)
    if kind == "run":
        return _run(runner, nb, cell, record)
    if kind == "fs":
        return _fs(cell, record)
    if kind == "sh":
        return _sh(runner, nb, cell)
    if kind == "conda":
        raise MagicError(CONDA_MESSAGE)
    if kind in ("r", "scala"):
        raise MagicError(f"%{kind} cells are not supported (only Python and SQL run locally)")
    raise MagicError(f"unknown magic %{kind}")


_WIDGET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute_widgets(text: str, values: dict[str, str]) -> str:
    """Databricks' legacy ``${name}`` widget references in SQL cells, replaced by the
    widget's value as text (as Databricks does). Names that are not widgets stay as written,
    so Spark's own ``${spark.conf.key}`` substitution still applies. ``:name`` markers are
    the safe form: Spark binds them as values."""
    return _WIDGET_REF.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), text)


def _sql(runner: NotebookRunner, nb: Notebook, cell: Cell, record: CellRecord) -> None:
    from lakeloom.plugins.sql_task.execute import bind_arguments, run_sql
    from lakeloom.plugins.sql_task.splitter import split_statements

    ctx = runner.ctx
    values = widget_state(ctx).all_values()
    statements = split_statements(cell.source)
    df = None
    for number, stmt in enumerate(statements, start=1):
        ctx.check_cancelled()
        if "${" in stmt.text:
            stmt = dataclasses.replace(stmt, text=substitute_widgets(stmt.text, values))
        args = bind_arguments(stmt, values, f"%sql cell {cell.index}")
        try:
            df = run_sql(ctx, stmt.text, args)
        except Exception as e:
            if len(statements) == 1:
                raise
            raise MagicError(f"statement {number} of {len(statements)}: {stmt.first_line[:120]}\n"
                             f"{type(e).__name__}: {e}") from e
    if df is not None:
        runner.namespace["_sqldf"] = df
        if df.columns:
            record.display(dataframe_bundle(df))


def _run(runner: NotebookRunner, nb: Notebook, cell: Cell, record: CellRecord) -> None:
    spec = cell.magic_args or cell.source.strip().split("\n", 1)[0]
    target, args = parse_run_args(spec)
    path = resolve_notebook_path(target, nb.path.parent)
    state = widget_state(runner.ctx)
    saved = dict(state.passed)
    state.passed.update(args)
    try:
        runner.run_cells(parse_notebook(path), record)
    finally:
        state.passed.clear()
        state.passed.update(saved)


_RECURSE_FLAGS = {"-r", "--recurse", "-R"}


def _fs(cell: Cell, record: CellRecord) -> None:
    words = shlex.split((cell.magic_args + " " + cell.source).strip())
    if not words:
        raise MagicError("%fs needs a command, e.g. %fs ls dbfs:/")
    command, rest = words[0], words[1:]
    recurse = any(w in _RECURSE_FLAGS for w in rest)
    args: list[Any] = [w for w in rest if w not in _RECURSE_FLAGS]
    fn = getattr(dbutils.fs, command, None)
    if fn is None or command.startswith("_"):
        raise MagicError(f"%fs {command}: unknown command (ls, cp, mv, rm, mkdirs, put, head)")
    kwargs: dict[str, Any] = {"recurse": True} if recurse and command in ("cp", "mv", "rm") else {}
    if command == "put" and len(args) >= 2:
        args = [args[0], " ".join(args[1:])]
    result = fn(*args, **kwargs)
    if command == "ls":
        record.display(table_bundle(["path", "name", "size", "modificationTime"], [list(r) for r in result], False))
    elif not isinstance(result, bool):
        print(result)


def _sh(runner: NotebookRunner, nb: Notebook, cell: Cell) -> None:
    script = (cell.magic_args + "\n" + cell.source).strip()
    if not script:
        return
    ctx = runner.ctx
    proc = subprocess.Popen(["bash", "-c", script], cwd=str(nb.path.parent), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    assert proc.stdout is not None
    done = threading.Event()

    def kill_on_cancel() -> None:
        while not done.wait(0.2):
            if ctx.cancel_event.is_set():
                proc.kill()
                return

    threading.Thread(target=kill_on_cancel, name=f"lakeloom-sh-{ctx.task_key}", daemon=True).start()
    try:
        for line in proc.stdout:
            print(line, end="")
        rc = proc.wait()
    finally:
        done.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ctx.check_cancelled()
    if rc != 0:
        raise MagicError(f"%sh exited with status {rc}")
