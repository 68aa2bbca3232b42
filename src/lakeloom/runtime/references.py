"""Dynamic value references: the ``{{...}}`` syntax of Databricks job and task settings.

``resolve(text, scope)`` replaces every reference in ``text`` with its value for one
task attempt; ``check(text, ...)`` validates references statically (``lakeloom
validate``), with no values at hand. The rules follow Databricks:

- nothing inside the braces is evaluated; a reference is a dotted path, and a path
  segment with special characters is backticked (``{{job.parameters.`p$@`}}``) or
  bracketed (``{{job.parameters.[p$@]}}``);
- text that is not a syntactically valid reference, or whose first segment is not a
  known namespace (``{{foo.bar}}``, ``{{secrets/scope/key}}``), stays literal;
- an unknown name inside a known namespace (``{{job.naem}}``) is an error
  (:class:`InvalidReference`); so is a value that is not available for this attempt,
  e.g. a task value that was never set (:class:`UnresolvedReference`).

Values render as strings: strings raw, booleans ``true``/``false``, everything else
(numbers, lists, dicts, null) as compact JSON. All times are UTC.

Choices where Databricks documents no exact format: ``iso_datetime`` renders as
``2024-05-01T12:34:56.789Z`` and ``month``/``day``/``hour``/... as unpadded integers.
``{{job.trigger.time.<arg>}}`` falls back to the run's start time when the run has no
trigger time (e.g. a manual run). Beyond the documented forms, task values and for-each
inputs that are dicts or lists can be indexed further (``{{input.a.0}}``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, NamedTuple

__all__ = [
    "DynamicReferenceError", "InvalidReference", "UnresolvedReference",
    "ReferenceScope", "TaskRef", "TIME_ARGS", "resolve", "resolve_deep", "check",
]


class DynamicReferenceError(ValueError):
    """A ``{{...}}`` reference could not be resolved; ``reference`` is its full text."""

    def __init__(self, reference: str, message: str) -> None:
        super().__init__(f"{reference}: {message}")
        self.reference = reference


class InvalidReference(DynamicReferenceError):
    """An unknown name inside a known namespace, e.g. ``{{job.naem}}``."""


class UnresolvedReference(DynamicReferenceError):
    """A well-formed reference whose value is not available for this task attempt."""


@dataclass(slots=True)
class TaskRef:
    """What a reference may read about another task of the run (its latest attempt).

    ``output`` holds the task's SQL output in the shape
    ``{"rows": [...], "first_row": {...}, "alert_state": "OK"}`` (keys may be absent).
    """

    values: dict[str, Any] = field(default_factory=dict)
    result_state: str | None = None
    run_id: int | None = None
    execution_count: int = 0
    error_code: str | None = None
    output: dict[str, Any] = field(default_factory=dict)


def _no_tasks(task_key: str) -> TaskRef | None:
    return None


@dataclass(slots=True)
class ReferenceScope:
    """Everything resolution needs for one task attempt.

    ``task_lookup(task_key)`` returns the other task's :class:`TaskRef`, or None when
    that task has not run in this run. ``trigger_info`` carries trigger data, e.g.
    ``{"file_arrival": {"location": "s3://..."}, "table_update": {"updated_tables":
    ["c.s.t"], "c.s.t": {"version": 3, "commit_timestamp": datetime(...)}}}``.
    ``attempt_number`` (0 on the first attempt) backs the deprecated
    ``{{task_retry_count}}``. Times are aware datetimes (naive ones are taken as UTC);
    ``trigger_time`` and ``commit_timestamp`` may also be epoch milliseconds.
    """

    job_id: int
    job_name: str
    run_id: int
    start_time: datetime
    task_name: str
    task_run_id: int
    repair_count: int = 0
    job_parameters: dict[str, str] = field(default_factory=dict)
    trigger_type: str = "ONE_TIME"
    trigger_info: dict[str, Any] = field(default_factory=dict)
    trigger_time: datetime | int | None = None
    execution_count: int = 1
    attempt_number: int = 0
    task_notebook_path: str | None = None
    task_lookup: Callable[[str], TaskRef | None] = _no_tasks
    input_value: Any = None
    has_input: bool = False
    workspace_id: int | str | None = None
    workspace_url: str | None = None

    def resolve(self, text: str) -> str:
        """Shorthand for ``resolve(text, self)``; usable as ``TaskContext.resolver``."""
        return resolve(text, self)


# --- syntax -------------------------------------------------------------------

# A name with special characters is escaped in backticks (documented) or square brackets
# (``{{job.parameters.[my param]}}``, the form Databricks' UI writes for such names).
_SEGMENT = r"(?:`[^`]*`|\[[^\]]*\]|[\w\-]+)"
_REFERENCE = re.compile(r"\{\{\s*(" + _SEGMENT + r"(?:\." + _SEGMENT + r")*)\s*\}\}")
_SEGMENTS = re.compile(r"`([^`]*)`|\[([^\]]*)\]|([\w\-]+)")


def _split(path: str) -> tuple[str, ...]:
    return tuple(word or quoted or bracketed for quoted, bracketed, word in _SEGMENTS.findall(path))


# --- rendering and time -------------------------------------------------------

def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _utc(value: datetime) -> datetime:
    # A naive datetime inside lakeloom always means UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _iso_datetime(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


#: ``<time>.<arg>`` arguments of ``job.start_time``, ``job.trigger.time`` and
#: ``commit_timestamp``, each mapping a UTC datetime to its rendered value.
TIME_ARGS: dict[str, Callable[[datetime], Any]] = {
    "iso_date": lambda t: t.strftime("%Y-%m-%d"),
    "iso_datetime": _iso_datetime,
    "iso_weekday": lambda t: t.isoweekday(),
    "is_weekday": lambda t: t.isoweekday() <= 5,
    "year": lambda t: t.year,
    "month": lambda t: t.month,
    "day": lambda t: t.day,
    "hour": lambda t: t.hour,
    "minute": lambda t: t.minute,
    "second": lambda t: t.second,
    "timestamp_ms": lambda t: (t - _EPOCH) // timedelta(milliseconds=1),
}


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    return _utc(datetime.fromisoformat(str(value)))


# --- the parsed form ----------------------------------------------------------

Getter = Callable[[ReferenceScope], Any]


class _Ref(NamedTuple):
    get: Getter
    task_key: str | None = None
    parameter: str | None = None
    uses_input: bool = False


_SCOPE_ATTRS: dict[tuple[str, ...], str] = {
    ("job", "id"): "job_id",
    ("job", "name"): "job_name",
    ("job", "run_id"): "run_id",
    ("job", "repair_count"): "repair_count",
    ("job", "trigger", "type"): "trigger_type",
    ("task", "name"): "task_name",
    ("task", "run_id"): "task_run_id",
    ("task", "execution_count"): "execution_count",
    ("workspace", "id"): "workspace_id",
    ("workspace", "url"): "workspace_url",
    # Deprecated single-word forms, with the names that replaced them.
    ("job_id",): "job_id",
    ("run_id",): "task_run_id",
    ("task_retry_count",): "attempt_number",
    ("parent_run_id",): "run_id",
    ("task_key",): "task_name",
}
_NAMESPACES = frozenset({"job", "task", "tasks", "input", "workspace", "start_date"}
                        | {k[0] for k in _SCOPE_ATTRS})
_TASK_ATTRS = ("result_state", "run_id", "execution_count", "error_code")


def _attr_getter(ref: str, attr: str) -> Getter:
    def get(scope: ReferenceScope) -> Any:
        value = getattr(scope, attr)
        if value is None:
            raise UnresolvedReference(ref, f"no {attr.replace('_', ' ')} is known for this run")
        return value
    return get


def _time_arg(ref: str, arg: str) -> Callable[[datetime], Any]:
    fmt = TIME_ARGS.get(arg)
    if fmt is None:
        raise InvalidReference(ref, f"unknown time argument {arg!r}; expected one of {', '.join(TIME_ARGS)}")
    return fmt


def _time_getter(ref: str, which: str, arg: str) -> Getter:
    fmt = _time_arg(ref, arg)
    if which == "start":
        return lambda scope: fmt(_as_datetime(scope.start_time))
    return lambda scope: fmt(_as_datetime(scope.trigger_time if scope.trigger_time is not None else scope.start_time))


def _dig(ref: str, value: Any, path: tuple[str, ...], what: str) -> Any:
    for i, key in enumerate(path):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.lstrip("-").isdigit() and -len(value) <= int(key) < len(value):
            value = value[int(key)]
        else:
            where = ".".join((what, *path[:i]))
            raise UnresolvedReference(ref, f"{where} has no element {key!r}")
    return value


def _parse_job(ref: str, segs: tuple[str, ...]) -> _Ref:
    n = len(segs)
    if n >= 3 and segs[1] == "parameters":
        # Parameter names may contain dots; an unquoted dotted name still means one parameter.
        name = ".".join(segs[2:])

        def get_param(scope: ReferenceScope) -> Any:
            try:
                return scope.job_parameters[name]
            except KeyError:
                raise UnresolvedReference(ref, f"the job has no parameter {name!r}") from None
        return _Ref(get_param, parameter=name)
    if n == 3 and segs[1] == "start_time":
        return _Ref(_time_getter(ref, "start", segs[2]))
    if n >= 2 and segs[1] == "trigger":
        return _parse_trigger(ref, segs)
    raise InvalidReference(ref, "unknown job reference; expected job.id, job.name, job.run_id, "
                                "job.repair_count, job.parameters.<name>, job.start_time.<arg> or job.trigger.*")


def _parse_trigger(ref: str, segs: tuple[str, ...]) -> _Ref:
    rest = segs[2:]
    if len(rest) == 2 and rest[0] == "time":
        return _Ref(_time_getter(ref, "trigger", rest[1]))
    if rest == ("file_arrival", "location"):
        def get_location(scope: ReferenceScope) -> Any:
            location = (scope.trigger_info.get("file_arrival") or {}).get("location")
            if location is None:
                raise UnresolvedReference(ref, f"the run was not triggered by a file arrival "
                                               f"(trigger type {scope.trigger_type})")
            return location
        return _Ref(get_location)
    if len(rest) >= 2 and rest[0] == "table_update":
        return _Ref(_table_update_getter(ref, rest[1:]))
    raise InvalidReference(ref, "unknown trigger reference; expected job.trigger.type, job.trigger.time.<arg>, "
                                "job.trigger.file_arrival.location or job.trigger.table_update.*")


def _table_update_getter(ref: str, rest: tuple[str, ...]) -> Getter:
    def info(scope: ReferenceScope) -> dict[str, Any]:
        data = scope.trigger_info.get("table_update")
        if data is None:
            raise UnresolvedReference(ref, f"the run was not triggered by a table update "
                                           f"(trigger type {scope.trigger_type})")
        return data

    if rest == ("updated_tables",):
        return lambda scope: list(info(scope).get("updated_tables", []))
    fmt: Callable[[datetime], Any] | None = None
    if len(rest) >= 2 and rest[-1] == "version":
        table, item = ".".join(rest[:-1]), "version"
    elif len(rest) >= 3 and rest[-2] == "commit_timestamp":
        table, item = ".".join(rest[:-2]), "commit_timestamp"
        fmt = _time_arg(ref, rest[-1])
    else:
        raise InvalidReference(ref, "unknown table_update reference; expected updated_tables, "
                                    "<table>.version or <table>.commit_timestamp.<arg>")

    def get(scope: ReferenceScope) -> Any:
        table_info = info(scope).get(table)
        if not isinstance(table_info, dict) or item not in table_info:
            raise UnresolvedReference(ref, f"table {table!r} is not among the updated tables of this trigger")
        value = table_info[item]
        return value if fmt is None else fmt(_as_datetime(value))
    return get


def _parse_task(ref: str, segs: tuple[str, ...]) -> _Ref:
    if segs == ("task", "notebook_path"):
        def get_path(scope: ReferenceScope) -> Any:
            if scope.task_notebook_path is None:
                raise UnresolvedReference(ref, f"task {scope.task_name!r} is not a notebook task")
            return scope.task_notebook_path
        return _Ref(get_path)
    raise InvalidReference(ref, "unknown task reference; expected task.name, task.run_id, "
                                "task.execution_count or task.notebook_path")


def _parse_tasks(ref: str, segs: tuple[str, ...]) -> _Ref:
    if len(segs) < 3:
        raise InvalidReference(ref, "expected tasks.<task_key>.<field>")
    key, attr, rest = segs[1], segs[2], segs[3:]

    def lookup(scope: ReferenceScope) -> TaskRef:
        task = scope.task_lookup(key)
        if task is None:
            raise UnresolvedReference(ref, f"task {key!r} has not run in this job run")
        return task

    if attr in _TASK_ATTRS and not rest:
        def get_attr(scope: ReferenceScope) -> Any:
            value = getattr(lookup(scope), attr)
            if value is None:
                if attr == "error_code":
                    return ""
                raise UnresolvedReference(ref, f"task {key!r} has no {attr} yet (it has not finished)")
            return value
        return _Ref(get_attr, task_key=key)
    if attr == "values" and rest:
        def get_value(scope: ReferenceScope) -> Any:
            values = lookup(scope).values
            joined = ".".join(rest)
            if joined in values:  # a task value whose own name contains dots
                return values[joined]
            if rest[0] not in values:
                raise UnresolvedReference(ref, f"task {key!r} did not set a task value {rest[0]!r}")
            return _dig(ref, values[rest[0]], rest[1:], f"tasks.{key}.values.{rest[0]}")
        return _Ref(get_value, task_key=key)
    if attr == "output" and rest:
        return _Ref(_output_getter(ref, key, rest, lookup), task_key=key)
    raise InvalidReference(ref, f"unknown field of task {key!r}; expected values.<name>, result_state, run_id, "
                                "execution_count, error_code, output.rows, output.first_row[.<column>] "
                                "or output.alert_state")


def _output_getter(ref: str, key: str, rest: tuple[str, ...], lookup: Callable[[ReferenceScope], TaskRef]) -> Getter:
    what = rest[0]
    if not ((what in ("rows", "alert_state") and len(rest) == 1) or (what == "first_row" and len(rest) <= 2)):
        raise InvalidReference(ref, "unknown output field; expected output.rows, output.first_row, "
                                    "output.first_row.<column> or output.alert_state")

    def get(scope: ReferenceScope) -> Any:
        output = lookup(scope).output
        if what == "first_row" and "first_row" not in output and "rows" in output:
            rows = output["rows"]
            output = {"first_row": rows[0] if rows else {}}
        if what not in output:
            raise UnresolvedReference(ref, f"task {key!r} has no SQL output {what!r}")
        value = output[what]
        if len(rest) == 2:
            if not isinstance(value, dict) or rest[1] not in value:
                raise UnresolvedReference(ref, f"the first row of task {key!r} has no column {rest[1]!r}")
            value = value[rest[1]]
        return value
    return get


def _parse_input(ref: str, segs: tuple[str, ...]) -> _Ref:
    path = segs[1:]

    def get(scope: ReferenceScope) -> Any:
        if not scope.has_input:
            raise InvalidReference(ref, "{{input}} is only available inside a for_each_task iteration")
        return _dig(ref, scope.input_value, path, "input")
    return _Ref(get, uses_input=True)


def _start_date(ref: str, segs: tuple[str, ...]) -> _Ref:
    if len(segs) != 1:
        raise InvalidReference(ref, "the deprecated {{start_date}} takes no fields")
    return _Ref(_time_getter(ref, "start", "iso_date"))


_PARSERS: dict[str, Callable[[str, tuple[str, ...]], _Ref]] = {
    "job": _parse_job,
    "task": _parse_task,
    "tasks": _parse_tasks,
    "input": _parse_input,
    "start_date": _start_date,
}


@lru_cache(maxsize=4096)
def _parse(path: str) -> _Ref | None:
    """The reference for the inside of ``{{...}}``; None for an unknown namespace."""
    segs = _split(path)
    if segs[0] not in _NAMESPACES:
        return None
    ref = "{{" + path + "}}"
    attr = _SCOPE_ATTRS.get(segs)
    if attr is not None:
        return _Ref(_attr_getter(ref, attr))
    parser = _PARSERS.get(segs[0])
    if parser is None:  # a known namespace or deprecated word used with the wrong fields
        raise InvalidReference(ref, f"unknown reference in namespace {segs[0]!r}")
    return parser(ref, segs)


# --- public API ---------------------------------------------------------------

def resolve(text: str, scope: ReferenceScope) -> str:
    """Replace every dynamic value reference in ``text`` with its value in ``scope``.

    Raises :class:`InvalidReference` for an unknown name in a known namespace and
    :class:`UnresolvedReference` for a value this attempt cannot see. Text that is
    not a valid reference, or is in an unknown namespace, is returned unchanged.
    """
    if "{{" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        ref = _parse(match.group(1))
        return match.group(0) if ref is None else _render(ref.get(scope))

    return _REFERENCE.sub(substitute, text)


def resolve_deep(obj: Any, scope: ReferenceScope) -> Any:
    """Resolve every string inside nested dicts, lists and tuples (dict keys are kept).

    Returns a new structure; non-string leaves are returned as they are.
    """
    if isinstance(obj, str):
        return resolve(obj, scope) if "{{" in obj else obj
    if isinstance(obj, dict):
        return {k: resolve_deep(v, scope) for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve_deep(v, scope) for v in obj]
    if isinstance(obj, tuple):
        return tuple(resolve_deep(v, scope) for v in obj)
    return obj


def check(text: str, *, task_keys: set[str], job_parameter_names: set[str], in_for_each: bool,
          upstream_of: set[str] | None) -> list[str]:
    """Statically validate the references in ``text``; returns one message per problem.

    ``task_keys`` are the job's tasks, ``job_parameter_names`` its declared
    parameters, ``in_for_each`` whether ``text`` belongs to a for_each iteration task,
    and ``upstream_of`` (when given) the keys of every task upstream of the current
    one: Databricks only lets a task reference tasks it transitively depends on.
    """
    if "{{" not in text:
        return []
    problems: list[str] = []
    for match in _REFERENCE.finditer(text):
        ref_text = match.group(0)
        try:
            ref = _parse(match.group(1))
        except InvalidReference as e:
            problems.append(str(e))
            continue
        if ref is None:
            continue
        if ref.parameter is not None and ref.parameter not in job_parameter_names:
            problems.append(f"{ref_text}: the job declares no parameter {ref.parameter!r}")
        if ref.task_key is not None:
            if ref.task_key not in task_keys:
                problems.append(f"{ref_text}: the job has no task {ref.task_key!r}")
            elif upstream_of is not None and ref.task_key not in upstream_of:
                problems.append(f"{ref_text}: task {ref.task_key!r} is not upstream of this task "
                                f"(add a depends_on path to it)")
        if ref.uses_input and not in_for_each:
            problems.append(f"{ref_text}: {{{{input}}}} is only available inside a for_each_task")
    return problems
