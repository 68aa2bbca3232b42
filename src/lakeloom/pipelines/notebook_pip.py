"""The ``%pip install`` lines of a pipeline's notebooks: libraries for the whole pipeline.

On Databricks a pipeline notebook may start with ``%pip install ...`` cells; the libraries are
installed before the pipeline's source runs and every source file and UDF of the pipeline can
import them. lakeloom adds them to the pipeline's ``environment.dependencies`` (a cached
environment, :mod:`lakeloom.runtime.environments`). Other ``%pip`` commands (``list``,
``freeze``) print something in a notebook and mean nothing in a pipeline.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from lakeloom.runtime.environments import DependencyLine
from lakeloom.runtime.environments.requirements import pip_install_lines

_SOURCE_HEADER = "# Databricks notebook source"
_MAGIC = re.compile(r"^#\s?MAGIC ?(.*)$")
_PIP_INSTALL = re.compile(r"^\s*%pip\s+install\s+(.*)$")


def pip_install_dependencies(path: Path) -> list[DependencyLine]:
    """The dependencies of every ``%pip install`` in the notebook at ``path`` (none for plain files)."""
    out: list[DependencyLine] = []
    for line_no, command in _pip_commands(path):
        match = _PIP_INSTALL.match(command)
        if match:
            out += pip_install_lines(match.group(1), f"{path}:{line_no}: %pip install", path.parent)
    return out


def _pip_commands(path: Path) -> list[tuple[int, str]]:
    """``(line, command)`` of each ``%pip`` command, continuation lines joined."""
    if path.suffix == ".ipynb":
        lines: list[tuple[int, str]] = []
        for i, cell in enumerate(json.loads(path.read_text()).get("cells", [])):
            source = cell.get("source", [])
            text = "".join(source) if isinstance(source, list) else str(source)
            if cell.get("cell_type") == "code" and text.lstrip().startswith("%pip"):
                lines += [(i + 1, line) for line in text.splitlines()]
        return _joined(lines)
    if path.suffix != ".py":
        return []
    text = path.read_text().splitlines()
    if not text or text[0].strip() != _SOURCE_HEADER:
        return []
    magic = [(n, m.group(1)) for n, line in enumerate(text, 1) if (m := _MAGIC.match(line))]
    return _joined(magic)


def _joined(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for n, line in lines:
        if pending is not None:
            pending = (pending[0], pending[1] + " " + line.strip())
        elif line.lstrip().startswith("%pip"):
            pending = (n, line.strip())
        if pending is not None and not pending[1].endswith("\\"):
            out.append(pending)
            pending = None
        elif pending is not None:
            pending = (pending[0], pending[1][:-1])
    if pending is not None:
        out.append(pending)
    return out
