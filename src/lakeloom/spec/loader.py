"""Load job files (a single job, or a bundle's ``resources.jobs``) with line numbers.

Every error names the file, the line, the task key and the field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from lakeloom.spec.models import Job

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SpecError:
    """One problem in a job file."""

    file: str
    line: int | None
    message: str
    task_key: str | None = None
    field: str | None = None
    severity: str = "error"

    def format(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        parts = [where]
        if self.task_key:
            parts.append(f"task {self.task_key!r}")
        if self.field:
            parts.append(f"field {self.field!r}")
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{': '.join(parts)}: {prefix}{self.message}"


class JobSpecError(Exception):
    """A job file failed to load or validate; ``errors`` holds every problem."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.format() for e in errors))


@dataclass
class LineMap:
    """Line numbers (1-based) of every mapping key / sequence item in a YAML document."""

    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Iterable[str | int]) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


@dataclass
class LoadedJob:
    """A parsed job with where it came from."""

    job: Job
    source: Path
    key: str | None
    lines: LineMap
    prefix: Path_ = ()
    #: The folder of the Databricks Asset Bundle the job belongs to (its paths are absolute).
    bundle_root: Path | None = None

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def line_of(self, *path: str | int) -> int | None:
        return self.lines.line_of(self.prefix + tuple(path))

    def task_line(self, task_key: str, *path: str | int) -> int | None:
        for i, t in enumerate(self.job.tasks):
            if t.task_key == task_key:
                return self.line_of("tasks", i, *path)
        return None


def _compose(text: str, source: str) -> tuple[Any, LineMap]:
    import yaml

    try:
        # libyaml's parser when PyYAML has it: the pure-Python one dominated validating big jobs.
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(e, "problem", None) or str(e)
        raise JobSpecError([SpecError(source, line, f"invalid YAML: {problem}")]) from None
    lines = LineMap()
    if node is None:
        return None, lines
    constructor = yaml.SafeLoader("")

    def build(n: Any, path: Path_) -> Any:
        lines.lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k, v in n.value:
                key = constructor.construct_object(k, deep=True)
                if key in out:
                    raise JobSpecError([SpecError(source, k.start_mark.line + 1, f"duplicate key {key!r}")])
                lines.lines[path + (key,)] = k.start_mark.line + 1
                out[key] = build(v, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    return build(node, ()), lines


def parse_yaml_with_lines(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML (or JSON) ``text`` into plain data and the line of every key and item;
    a syntax error or duplicate key raises JobSpecError naming ``source`` and the line."""
    return _compose(text, source)


def _field_name(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_errors(e: ValidationError, source: str, data: dict[str, Any], lines: LineMap,
                      prefix: Path_ = ()) -> list[SpecError]:
    """Turn pydantic errors into SpecErrors with file, line, task key and field."""
    errors = []
    tasks = data.get("tasks") if isinstance(data, dict) else None
    for err in e.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        task_key = None
        field_loc = loc
        if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int) and isinstance(tasks, list):
            if loc[1] < len(tasks) and isinstance(tasks[loc[1]], dict):
                task_key = tasks[loc[1]].get("task_key")
            field_loc = loc[2:]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        errors.append(SpecError(source, lines.line_of(prefix + loc), msg, task_key,
                                _field_name(field_loc) or None))
    return errors


def _job_documents(data: Any, source: str, lines: LineMap) -> list[tuple[str | None, dict[str, Any], Path_]]:
    if not isinstance(data, dict):
        raise JobSpecError([SpecError(source, lines.line_of(()), "a job file must be a mapping")])
    if "resources" in data:
        resources = data["resources"]
        jobs = resources.get("jobs") if isinstance(resources, dict) else None
        if not isinstance(jobs, dict):
            if isinstance(resources, dict) and resources.get("pipelines"):
                return []
            raise JobSpecError([SpecError(source, lines.line_of(("resources",)),
                                          "resources must contain a 'jobs' mapping", field="resources.jobs")])
        docs = []
        for key, body in jobs.items():
            if not isinstance(body, dict):
                raise JobSpecError([SpecError(source, lines.line_of(("resources", "jobs", key)),
                                              f"job {key!r} must be a mapping")])
            body = dict(body)
            body.setdefault("name", key)
            docs.append((str(key), body, ("resources", "jobs", key)))
        return docs
    return [(None, data, ())]


def _bundle_root(data: Any) -> Path | None:
    """The bundle folder a deployed bundle's resolved resources file records (``bundle.local_root``)."""
    bundle = data.get("bundle") if isinstance(data, dict) and "resources" in data else None
    root = bundle.get("local_root") if isinstance(bundle, dict) else None
    return Path(root) if isinstance(root, str) else None


def load_job_documents(path: str | Path, text: str | None = None) -> list[LoadedJob]:
    """Parse every job in a file. Raises JobSpecError listing every schema problem."""
    p = Path(path)
    source = str(path)
    if text is None:
        try:
            text = p.read_text()
        except OSError as e:
            raise JobSpecError([SpecError(source, None, f"cannot read job file: {e.strerror or e}")]) from None
    data, lines = _compose(text, source)
    if data is None:
        raise JobSpecError([SpecError(source, 1, "the job file is empty")])
    loaded, errors = [], []
    for key, body, prefix in _job_documents(data, source, lines):
        try:
            job = Job.model_validate(body)
        except ValidationError as e:
            errors.extend(validation_errors(e, source, body, lines, prefix))
            continue
        loaded.append(LoadedJob(job, p.resolve(), key, lines, prefix, _bundle_root(data)))
    if errors:
        raise JobSpecError(errors)
    return loaded


def load_job_file(path: str | Path, job_key: str | None = None) -> LoadedJob:
    """Load one job from a file; ``job_key`` picks one of a bundle's jobs."""
    docs = load_job_documents(path)
    if job_key is not None:
        for d in docs:
            if d.key == job_key or d.job.name == job_key:
                return d
        keys = ", ".join(str(d.key or d.job.name) for d in docs)
        raise JobSpecError([SpecError(str(path), None, f"no job {job_key!r} in this file (jobs: {keys})")])
    if len(docs) != 1:
        keys = ", ".join(str(d.key or d.job.name) for d in docs) or "none"
        raise JobSpecError([SpecError(str(path), None,
                                      f"the file defines {len(docs)} jobs ({keys}); choose one with --job KEY")])
    return docs[0]
