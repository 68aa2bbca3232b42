"""Notebook-scoped libraries: ``%pip install`` and ``%restart_python``.

As on Databricks, ``%pip install`` adds to the notebook's own environment (the task's
dependencies plus every ``%pip`` line so far), installed once into the cached environment
of that exact set and visible to this notebook only; ``%restart_python`` (or
``dbutils.library.restartPython()``) drops the notebook's Python state (variables and
the modules it imported from its folders and environments) and keeps ``spark``.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom.runtime.environments import (
    TASK_ENVIRONMENT_KEY, DependencyLine, Environment, ensure_environment, environment_scope, envs_dir, resolve)
from lakeloom.runtime.environments.requirements import DependencyError, pip_install_lines
from lakeloom.runtime.imports import current_scope, evict

if TYPE_CHECKING:
    from lakeloom.plugins.notebook_task.executor import NotebookRunner

class PipMagicError(RuntimeError):
    """A ``%pip`` line lakeloom cannot carry out; the message names it."""


def install_lines(args: str, origin: str, cwd: Path) -> list[DependencyLine]:
    """The dependency lines of ``%pip install <args>`` (paths relative to ``cwd``)."""
    try:
        return pip_install_lines(args, origin, cwd)
    except DependencyError as e:
        raise PipMagicError(str(e)) from e


class NotebookLibraries:
    """The ``%pip`` state of one notebook run."""

    def __init__(self, runner: NotebookRunner) -> None:
        self.runner = runner
        self.lines: list[DependencyLine] = []
        self.environment: Environment | None = None
        self._scope = ExitStack()

    def pip(self, line: str) -> None:
        """``%pip <line>``: ``install`` adds to the notebook environment; ``list``/``freeze``/
        ``show`` print what the notebook sees."""
        ctx = self.runner.ctx
        command, _, rest = line.strip().partition(" ")
        origin = f"%pip in {self.runner.path.name}"
        if command == "install":
            self.lines += install_lines(rest, origin, Path(os.getcwd()))
            task_lines, _ = ctx.stash.get(TASK_ENVIRONMENT_KEY, ([], None))
            deps = resolve([*task_lines, *self.lines])
            env = ensure_environment(deps, envs_dir(ctx.workspace.state_dir), label=origin)
            self._scope.close()
            self._scope = ExitStack()
            self._scope.enter_context(environment_scope(env, cancelled=ctx.cancel_event.is_set))
            self.environment = env
            print(f"Installed into the notebook's environment ({env.key}): {' '.join(deps.args)}")
        elif command in ("list", "freeze", "show"):
            python = self.environment.root / "bin" / "python" if self.environment else None
            cmd = [str(python) if python else "python", "-m", "pip", command, *shlex.split(rest)]
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
            print(proc.stdout + proc.stderr, end="")
        else:
            raise PipMagicError(f"{origin}: %pip {command} is not supported (install, list, freeze, show)")

    def restart_python(self) -> None:
        """Forget the notebook's Python state; ``spark``, ``dbutils`` and the installed
        notebook environment stay."""
        scope = current_scope()
        while scope is not None:
            evict(set(scope.loaded), [*scope.front, *scope.back])
            scope.loaded.clear()
            scope = scope.parent
        self.runner.reset_namespace()

    def close(self) -> None:
        """Leave the notebook environment (at the end of the notebook run)."""
        self._scope.close()
