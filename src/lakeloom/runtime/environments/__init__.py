"""Task dependencies: ``environments``, ``libraries`` and notebook ``%pip``, installed once
per distinct set into ``.lakeloom/envs/`` and visible only to the tasks that declare them.

- :mod:`.requirements` turns lines into pip arguments and a content key;
- :mod:`.install` builds and caches the environment;
- :mod:`.isolation` makes it importable for one task (and its Spark Python workers).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from lakeloom.plugin_api import StashKey
from lakeloom.runtime.environments.install import (
    Environment, EnvironmentInstallError, cached_environment, ensure_environment)
from lakeloom.runtime.environments.isolation import GATE, EnvironmentGate, environment_scope
from lakeloom.runtime.environments.requirements import (
    DependencyError, DependencyLine, PinConflict, ResolvedDependencies, pins, resolve)

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext
    from lakeloom.spec.models import Job, Task


def task_dependency_lines(job: Job, task: Task, base_dir: Path) -> list[DependencyLine]:
    """The task's environment dependencies and its Python ``libraries``, in that order."""
    lines: list[DependencyLine] = []
    env = job.environment(task.environment_key)
    if env is not None:
        lines += [DependencyLine(d, f"environments[{env.environment_key}].spec.dependencies[{i}]", base_dir)
                  for i, d in enumerate(env.spec.dependencies)]
    for i, lib in enumerate(task.libraries):
        text = lib.requirement_line
        if text is not None:
            lines.append(DependencyLine(text, f"task {task.task_key!r} libraries[{i}]", base_dir))
    return lines


def envs_dir(state_dir: Path) -> Path:
    """Where a workspace keeps its environments."""
    return state_dir / "envs"


__all__ = [
    "DependencyError", "DependencyLine", "Environment", "EnvironmentGate", "EnvironmentInstallError", "GATE",
    "PinConflict", "ResolvedDependencies", "cached_environment", "ensure_environment", "environment_scope",
    "TASK_ENVIRONMENT_KEY", "dependencies_scope", "envs_dir", "pins", "resolve", "task_dependency_lines", "task_environment",
]


#: ``ctx.stash`` key: the task's dependency lines and installed environment (``%pip`` adds to them).
TASK_ENVIRONMENT_KEY = StashKey[tuple[list[DependencyLine], "Environment | None"]]()


@contextmanager
def dependencies_scope(lines: list[DependencyLine], state_dir: Path, *, label: str,
                       cancelled: Callable[[], bool] = lambda: False,
                       on_wait: Callable[[set[str]], None] | None = None) -> Iterator[Environment | None]:
    """Install (or reuse) the environment of ``lines`` and run the block inside it (no
    lines: the block runs as is). For callers without a task, e.g. pipeline updates."""
    deps = resolve(lines) if lines else None
    if deps is None or deps.empty:  # e.g. only an --editable folder with no Python project
        yield None
        return
    env = ensure_environment(deps, envs_dir(state_dir), label=label)
    with environment_scope(env, cancelled=cancelled, on_wait=on_wait):
        yield env


@contextmanager
def task_environment(ctx: TaskContext, job: Job, task: Task, base_dir: Path) -> Iterator[Environment | None]:
    """Install (or reuse) the task's environment and run the block inside it; a task
    without dependencies runs as is. Raises DependencyError / PinConflict /
    EnvironmentInstallError, which fail the attempt naming the requirement."""
    lines = task_dependency_lines(job, task, base_dir)
    ctx.stash[TASK_ENVIRONMENT_KEY] = (lines, None)
    deps = resolve(lines) if lines else None
    if deps is None or deps.empty:
        yield None
        return
    env = ensure_environment(deps, envs_dir(ctx.workspace.state_dir), label=f"task {task.task_key!r} dependencies")
    ctx.stash[TASK_ENVIRONMENT_KEY] = (lines, env)

    def waiting(keys: set[str]) -> None:
        ctx.logger.info("waiting for tasks using another environment (%s) to finish", ", ".join(sorted(keys)))

    with environment_scope(env, cancelled=ctx.cancel_event.is_set, on_wait=waiting):
        yield env
