"""Write the executed notebook (cells with their outputs) as nbformat 4 JSON.

Plain ``json``: no nbformat dependency. Every string is passed through the task's
redaction, so secret values read during the run never reach the file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from lakeloom.plugins.notebook_task.executor import CellRecord, NotebookResult
    from lakeloom.plugins.notebook_task.parser import Cell


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    return value


def _cell_source(cell: Cell, language: str) -> str:
    if cell.kind == "markdown":
        return cell.source
    if cell.kind == language:
        return cell.source
    if cell.kind in ("python", "sql"):
        return f"%{cell.kind}\n{cell.source}"
    head = f"%{cell.kind} {cell.magic_args}".rstrip()
    return f"{head}\n{cell.source}" if cell.source else head


def _cell_json(rec: CellRecord, language: str) -> dict[str, Any]:
    cell = rec.cell
    meta: dict[str, Any] = {"lakeloom": {"cell": cell.index, "line": cell.line, "status": rec.status,
                                         "duration_ms": round(rec.duration_ms, 3)}}
    if cell.title:
        meta["title"] = cell.title
    out: dict[str, Any] = {"id": f"cell-{cell.index}", "metadata": meta, "source": _cell_source(cell, language)}
    if cell.kind == "markdown":
        out["cell_type"] = "markdown"
    else:
        out.update(cell_type="code", execution_count=rec.execution_count, outputs=rec.outputs)
    return out


def executed_notebook_json(result: NotebookResult, extra_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The nbformat 4.5 document of an executed notebook."""
    nb = result.notebook
    executed = {id(r.cell) for r in result.records}
    from lakeloom.plugins.notebook_task.executor import CellRecord

    records = list(result.records) + [CellRecord(c, nb.path) for c in nb.cells if id(c) not in executed]
    records.sort(key=lambda r: r.cell.index)
    lakeloom_meta: dict[str, Any] = {
        "notebook_path": str(nb.path), "exit_value": result.exit_value,
        "status": "FAILED" if result.error else "SUCCESS", "duration_s": round(result.duration_s, 3),
        **(extra_metadata or {}),
    }
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": nb.language},
            "lakeloom": lakeloom_meta,
        },
        "cells": [_cell_json(r, nb.language) for r in records],
    }


def write_executed_notebook(result: NotebookResult, path: Path, redact: Callable[[str], str],
                            extra_metadata: dict[str, Any] | None = None) -> Path:
    """Write the executed notebook to ``path`` atomically, redacted; return ``path``."""
    doc = _redacted(executed_notebook_json(result, extra_metadata), redact)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path
