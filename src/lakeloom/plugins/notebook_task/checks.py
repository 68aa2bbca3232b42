"""Static checks of a notebook for ``lakeloom validate`` (no Spark, no execution)."""
from __future__ import annotations

from pathlib import Path

from lakeloom.plugin_api import SpecIssue
from lakeloom.plugins.notebook_task.magics import CONDA_MESSAGE
from lakeloom.plugins.notebook_task.shell import python_source
from lakeloom.plugins.notebook_task.parser import (
    Cell, Notebook, NotebookParseError, environment_dependencies, parse_notebook, parse_run_args)

FIELD = "notebook_task.notebook_path"
_SUPPORTED = {"python", "sql", "markdown", "run", "fs", "sh", "environment"}


def _body_offset(nb: Notebook, cell: Cell) -> int:
    """Lines before the cell body's first line in the file (source notebooks)."""
    has_magic_line = cell.kind != nb.language and cell.raw.lstrip().lstrip("#-").lstrip().startswith(("MAGIC %", "%"))
    return cell.line - 1 + (1 if has_magic_line else 0)


def _check_cells(nb: Notebook, issues: list[SpecIssue], stack: list[Path]) -> None:
    from lakeloom.plugins.sql_task.validate import sql_syntax_errors
    from lakeloom.runtime.dbutils.notebook import resolve_notebook_path

    source_fmt = nb.source_format == "SOURCE"
    for cell in nb.cells:
        where = str(nb.path) if source_fmt else f"{nb.path} [cell {cell.index}]"
        offset = _body_offset(nb, cell) if source_fmt else 0
        if cell.kind == "python":
            try:
                compile("\n" * offset + python_source(cell.source), where, "exec", dont_inherit=True)
            except SyntaxError as e:
                issues.append(SpecIssue(FIELD, f"{where}:{e.lineno}: cell {cell.index}: syntax error: {e.msg}"))
        elif cell.kind == "sql":
            for msg in sql_syntax_errors(cell.source, where, line_offset=offset):
                issues.append(SpecIssue(FIELD, f"{msg} (cell {cell.index})"))
        elif cell.kind == "run":
            try:
                target, _ = parse_run_args(cell.magic_args or cell.source)
                child = resolve_notebook_path(target, nb.path.parent)
            except (ValueError, FileNotFoundError) as e:
                issues.append(SpecIssue(FIELD, f"{where}:{cell.line}: cell {cell.index}: %run: {e}"))
                continue
            _check_file(child, issues, stack)
        elif cell.kind == "conda":
            issues.append(SpecIssue(FIELD, f"{where}:{cell.line}: cell {cell.index}: {CONDA_MESSAGE}"))
        elif cell.kind not in _SUPPORTED and cell.kind != "md-sandbox":
            issues.append(SpecIssue(FIELD, f"{where}:{cell.line}: cell {cell.index}: unsupported magic %{cell.kind}"))


def _check_file(path: Path, issues: list[SpecIssue], stack: list[Path]) -> None:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(p.name for p in [*stack, resolved])
        issues.append(SpecIssue(FIELD, f"%run cycle: {chain}"))
        return
    try:
        nb = parse_notebook(resolved)
    except NotebookParseError as e:
        issues.append(SpecIssue(FIELD, str(e)))
        return
    try:
        environment_dependencies(nb)
    except NotebookParseError as e:
        issues.append(SpecIssue(FIELD, str(e)))
    stack.append(resolved)
    try:
        _check_cells(nb, issues, stack)
    finally:
        stack.pop()


def check_notebook(notebook_path: str, base_dir: Path) -> list[SpecIssue]:
    """Problems found in the notebook ``notebook_path`` (relative to ``base_dir``)."""
    from lakeloom.runtime.dbutils.notebook import resolve_notebook_path

    try:
        path = resolve_notebook_path(notebook_path, base_dir)
    except FileNotFoundError as e:
        return [SpecIssue(FIELD, str(e))]
    issues: list[SpecIssue] = []
    _check_file(path, issues, [])
    return issues
