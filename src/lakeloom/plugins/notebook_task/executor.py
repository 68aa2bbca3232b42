"""Execute a parsed notebook in-process, cell by cell, recording every output.

Cells run in one namespace holding ``spark``, ``sc``, ``dbutils``, ``display``,
``displayHTML``, ``sql``, ``table`` (lakeloom's per-task proxies). Python cells are
compiled with the notebook file's real line numbers, so tracebacks point into it.
"""
from __future__ import annotations

import ast
import builtins
import linecache
import re
import shlex
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.plugin_api import TaskCancelled
from lakeloom.plugins.notebook_task import capture
from lakeloom.plugins.notebook_task.libraries import NotebookLibraries
from lakeloom.plugins.notebook_task.magics import run_magic
from lakeloom.plugins.notebook_task.parser import Cell, Notebook, environment_dependencies, parse_notebook
from lakeloom.plugins.notebook_task.shell import NotebookShell, python_source
from lakeloom.runtime.dbutils import namespace_globals
from lakeloom.runtime.dbutils.display import DISPLAY_SINK_KEY, MimeBundle
from lakeloom.runtime.dbutils.notebook import RESTART_PYTHON_KEY, NotebookExit
from lakeloom.runtime.dbutils.notebook_context import NOTEBOOK_STACK_KEY

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext


_PYTHON_MAGIC = ("# MAGIC %python", "-- MAGIC %python", "%python")


class NotebookCellError(Exception):
    """A cell failed. The message names the notebook, the cell number, its line in
    the file and its first line, followed by the original traceback."""

    def __init__(self, notebook: Path, cell: Cell, detail: str, cause: BaseException) -> None:
        where = f"notebook {notebook}, cell {cell.index} (line {cell.line})"
        super().__init__(f"{where} failed: {cell.first_line[:200]}\n{detail.rstrip()}")
        self.notebook = notebook
        self.cell = cell
        self.cause = cause
        self.detail = detail


@dataclass
class CellRecord:
    """What one executed cell produced (nbformat output dicts)."""

    cell: Cell
    notebook: Path
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    status: str = "skipped"  # ok | error | exit | skipped
    duration_ms: float = 0.0

    def stream(self, name: str, text: str) -> None:
        if self.outputs and self.outputs[-1].get("output_type") == "stream" and self.outputs[-1]["name"] == name:
            self.outputs[-1]["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def display(self, bundle: MimeBundle) -> None:
        self.outputs.append({"output_type": "display_data", "data": dict(bundle), "metadata": {}})


@dataclass
class NotebookResult:
    """The outcome of a notebook execution."""

    notebook: Notebook
    records: list[CellRecord]
    exit_value: str | None = None
    error: BaseException | None = None
    duration_s: float = 0.0


#: A JVM stack frame line (``\tat org.apache...(X.scala:1)``) or its ``... 12 more`` tail.
_JVM_FRAME = re.compile(r"^\s+(?:at [\w$.<>/]+\(.*\)|\.\.\. \d+ more)\s*$")


def _cell_traceback(e: BaseException, filename: str) -> str:
    """The traceback from the first frame in the cell's code on (executor frames dropped).

    JVM stack frames (an unconverted ``Py4JJavaError`` carries hundreds) are left out: they
    would push the Java exception's own message past the 4,000 characters a task's
    ``state_message`` keeps. The task log still has the whole trace."""
    if isinstance(e, SyntaxError):
        return "".join(traceback.format_exception_only(type(e), e))
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    if tb is None:
        text = "".join(traceback.format_exception_only(type(e), e))
    else:
        text = "".join(traceback.format_exception(type(e), e, tb))
    return "".join(line for line in text.splitlines(keepends=True) if not _JVM_FRAME.match(line))


class NotebookRunner:
    """Runs one notebook (and what it ``%run``s) for a task attempt."""

    def __init__(self, ctx: TaskContext, path: Path, namespace: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.path = path
        self.namespace = namespace if namespace is not None else self.new_namespace(ctx)
        self.records: list[CellRecord] = []
        self._count = 0
        self._stack: list[Path] = []
        self.libraries = NotebookLibraries(self)
        self.shell = NotebookShell(self, on_pip=self.libraries.pip, on_restart=self.libraries.restart_python)
        self.namespace["get_ipython"] = self._get_ipython

    def _get_ipython(self) -> NotebookShell:
        return self.shell

    def reset_namespace(self) -> None:
        """A fresh namespace in the same dict (functions defined in cells hold it)."""
        self.namespace.clear()
        self.namespace.update(self.new_namespace(self.ctx))
        self.namespace["get_ipython"] = self._get_ipython

    @staticmethod
    def new_namespace(ctx: TaskContext) -> dict[str, Any]:
        """A fresh notebook namespace (``__name__ == "__main__"``, as on Databricks)."""
        from lakeloom.plugins.sql_task.execute import run_sql

        ns = {"__name__": "__main__", "__builtins__": builtins, **namespace_globals()}

        def sql(sqlQuery: str, args: Any = None, **kwargs: Any) -> Any:
            if kwargs or isinstance(args, list):
                return ctx.spark.sql(sqlQuery, args, **kwargs)
            return run_sql(ctx, sqlQuery, args)

        ns["sql"] = sql
        return ns

    def run(self) -> NotebookResult:
        """Execute every cell; a failure or ``exit`` stops it. Never raises for cell
        errors (they are in ``result.error``); cancellation propagates."""
        started = time.perf_counter()
        nb = parse_notebook(self.path)
        result = NotebookResult(nb, self.records)
        self.ctx.stash[RESTART_PYTHON_KEY] = self.libraries.restart_python
        try:
            deps = environment_dependencies(nb)
            if deps:  # as on serverless: the notebook's environment, installed before it runs
                self.libraries.pip("install " + " ".join(shlex.quote(d) for d in deps))
            self.run_cells(nb, None)
        except NotebookExit as e:
            result.exit_value = e.value
        except NotebookCellError as e:
            result.error = e
        finally:
            result.duration_s = time.perf_counter() - started
            self.ctx.stash.pop(DISPLAY_SINK_KEY, None)
            self.ctx.stash.pop(RESTART_PYTHON_KEY, None)
            self.libraries.close()
        return result

    def run_cells(self, nb: Notebook, into: CellRecord | None) -> None:
        """Run ``nb``'s cells; nested (``%run``) notebooks write into ``into``."""
        resolved = nb.path.resolve()
        if resolved in self._stack:
            chain = " -> ".join(p.name for p in [*self._stack, resolved])
            raise RecursionError(f"%run cycle: {chain}")
        self._stack.append(resolved)
        stack = self.ctx.stash.setdefault(NOTEBOOK_STACK_KEY, [])
        stack.append(str(resolved))
        try:
            for cell in nb.cells:
                self.ctx.check_cancelled()
                record = into
                if into is None:
                    record = CellRecord(cell, nb.path)
                    self.records.append(record)
                self._run_cell(nb, cell, record)
        finally:
            stack.pop()
            self._stack.pop()

    def _run_cell(self, nb: Notebook, cell: Cell, record: CellRecord) -> None:
        nested = record.cell is not cell
        if cell.kind in ("markdown", "environment"):  # the environment is set up before the first cell
            if not nested:
                record.status = "ok"
            return
        if not nested:
            self._count += 1
            record.execution_count = self._count
        self.ctx.stash[DISPLAY_SINK_KEY] = record.display
        started = time.perf_counter()
        try:
            with capture.recording(record.stream):
                if cell.kind == "python":
                    self._exec_python(nb, cell, record)
                else:
                    run_magic(self, nb, cell, record)
            if not nested:
                record.status = "ok"
        except NotebookExit:
            if not nested:
                record.status = "exit"
            raise
        except (TaskCancelled, KeyboardInterrupt, SystemExit):
            record.status = "error"
            raise
        except BaseException as e:
            # A failure inside a %run notebook already names its own cell; keep that whole.
            detail = str(e) if isinstance(e, NotebookCellError) else _cell_traceback(e, self._filename(nb, cell))
            record.outputs.append({"output_type": "error", "ename": type(e).__name__, "evalue": str(e),
                                   "traceback": detail.rstrip().splitlines()})
            if not nested:
                record.status = "error"
            raise NotebookCellError(nb.path, cell, detail, e) from e
        finally:
            if not nested:
                record.duration_ms = (time.perf_counter() - started) * 1000

    @staticmethod
    def _filename(nb: Notebook, cell: Cell) -> str:
        return str(nb.path) if nb.source_format == "SOURCE" else f"{nb.path} [cell {cell.index}]"

    def _exec_python(self, nb: Notebook, cell: Cell, record: CellRecord) -> None:
        filename = self._filename(nb, cell)
        self.shell.before_cell()
        code = python_source(cell.source)  # IPython syntax (%pip, !ls, %time ...) as Python
        if nb.source_format == "SOURCE":
            first = cell.line + (1 if cell.raw.lstrip().startswith(_PYTHON_MAGIC) else 0)
            source = "\n" * (first - 1) + code
        else:
            source = code
            linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
        tree = ast.parse(source, filename, "exec")
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        exec(compile(tree, filename, "exec"), self.namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), filename, "eval"), self.namespace)
            if value is not None:
                self.namespace["_"] = value
                record.outputs.append({"output_type": "execute_result", "data": {"text/plain": repr(value)},
                                       "metadata": {}, "execution_count": record.execution_count})
