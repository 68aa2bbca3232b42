"""Local paths in bundle resources made absolute, relative to the file that wrote them.

The fields are the ones the Databricks CLI translates (``bundle/config/mutator/paths``):
job tasks' ``notebook_task.notebook_path``, ``spark_python_task.python_file``,
``sql_task.file.path``, ``dbt_task.project_directory``, ``libraries[].whl|jar|requirements``
(for-each nested tasks too), ``shell_task.cwd`` (default: the folder of the job's file), job
``environments[].spec.dependencies`` entries that are local
paths, pipeline ``libraries[].notebook|file.path`` and ``glob.include``, pipeline ``root_path``
and ``environment.dependencies``, dashboards' ``file_path``, artifacts' ``path``. Remote
paths (``/Workspace/...``, ``dbfs:/``, ``s3://``...) and pip requirement strings stay.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lakeloom.bundle.yamlreader import Locations
from lakeloom.runtime.environments.requirements import split_quotes

_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|/|\$\{|\{\{|~)")
_PIP_FLAGS = ("-r ", "--requirement ", "-e ", "--editable ", "-c ", "--constraint ")


def is_local_path(value: str) -> bool:
    """True for a relative path written in a bundle (not a URL, absolute or remote path)."""
    return bool(value) and not _REMOTE.match(value)


def _looks_like_path(dep: str) -> bool:
    return dep.startswith(("./", "../", ".\\", "..\\")) or dep in (".", "..") or \
        dep.endswith((".whl", ".jar", ".txt", ".tar.gz", ".zip")) and "==" not in dep and " " not in dep


def _absolute(value: str, base: Path) -> str:
    return os.path.normpath(str(base / value))


class PathTranslator:
    """Rewrites the path fields of a resolved configuration in place."""

    def __init__(self, locs: Locations, root: Path) -> None:
        self.locs = locs
        self.root = root
        self.forced_base: Path | None = None

    def _base(self, container: Any, key: Any) -> Path:
        if self.forced_base is not None:
            return self.forced_base
        where = self.locs.of(container, key)
        return Path(where.file).parent if where else self.root

    def field(self, container: Any, key: Any) -> None:
        if not isinstance(container, dict) and not isinstance(container, list):
            return
        try:
            value = container[key]
        except (KeyError, IndexError, TypeError):
            return
        if isinstance(value, str) and is_local_path(value):
            container[key] = _absolute(value, self._base(container, key))

    def dependency(self, deps: Any, i: int) -> None:
        dep = deps[i]
        if not isinstance(dep, str):
            return
        for flag in _PIP_FLAGS:
            if dep.startswith(flag):
                rest = dep[len(flag):].strip()
                # -r "${workspace.file_path}/Path With Spaces/requirements.txt": pip's quoting stays
                inner, quote = split_quotes(rest)
                if is_local_path(inner):
                    deps[i] = flag + quote + _absolute(inner, self._base(deps, i)) + quote
                return
        if is_local_path(dep) and _looks_like_path(dep):
            deps[i] = _absolute(dep, self._base(deps, i))

    def task(self, task: Any) -> None:
        if not isinstance(task, dict):
            return
        for section, key in (("notebook_task", "notebook_path"), ("spark_python_task", "python_file"),
                             ("dbt_task", "project_directory")):
            block = task.get(section)
            if isinstance(block, dict) and block.get("source") != "GIT":
                self.field(block, key)
        shell = task.get("shell_task")
        if isinstance(shell, dict):  # lakeloom's own task kind: it runs where the file that wrote it is
            if shell.get("cwd") is None:
                shell["cwd"] = str(self._base(task, "shell_task"))
            self.field(shell, "cwd")
        sql = task.get("sql_task")
        if isinstance(sql, dict) and isinstance(sql.get("file"), dict) and sql["file"].get("source") != "GIT":
            self.field(sql["file"], "path")
        for lib in task.get("libraries") or []:
            if isinstance(lib, dict):
                for key in ("whl", "jar", "requirements", "egg"):
                    self.field(lib, key)
        nested = (task.get("for_each_task") or {}).get("task") if isinstance(task.get("for_each_task"), dict) \
            else None
        self.task(nested)

    def job(self, job: Any) -> None:
        if not isinstance(job, dict):
            return
        for task in job.get("tasks") or []:
            self.task(task)
        for env in job.get("environments") or []:
            deps = (env.get("spec") or {}).get("dependencies") if isinstance(env, dict) else None
            for i in range(len(deps or [])):
                self.dependency(deps, i)

    def pipeline(self, pipeline: Any) -> None:
        if not isinstance(pipeline, dict):
            return
        for lib in pipeline.get("libraries") or []:
            if not isinstance(lib, dict):
                continue
            for kind, key in (("notebook", "path"), ("file", "path"), ("glob", "include")):
                if isinstance(lib.get(kind), dict):
                    self.field(lib[kind], key)
        self.field(pipeline, "root_path")
        deps = (pipeline.get("environment") or {}).get("dependencies") \
            if isinstance(pipeline.get("environment"), dict) else None
        for i in range(len(deps or [])):
            self.dependency(deps, i)

    def translate(self, config: dict[str, Any]) -> None:
        resources = config.get("resources") or {}
        for kind, visit in (("jobs", self.job), ("pipelines", self.pipeline)):
            for body in (resources.get(kind) or {}).values():
                self.forced_base = self.root if id(body) in self.locs.relative_to_root else None
                visit(body)
        self.forced_base = None
        for dashboard in (resources.get("dashboards") or {}).values():
            if isinstance(dashboard, dict):
                self.field(dashboard, "file_path")
        for artifact in (config.get("artifacts") or {}).values():
            if isinstance(artifact, dict):
                if "path" in artifact:
                    self.field(artifact, "path")
                for f in artifact.get("files") or []:
                    if isinstance(f, dict):
                        self.field(f, "source")
