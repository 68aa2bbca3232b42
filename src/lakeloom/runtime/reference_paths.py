"""How a dynamic value reference is read: the ``{{...}}`` syntax, time arguments, and the
parsed form of each namespace (``job``, ``task``, ``tasks``, ``input``, ``workspace`` and the
deprecated single words) as a getter over a :class:`~lakeloom.runtime.references.ReferenceScope`.

The public API (``resolve``, ``check``) is :mod:`lakeloom.runtime.references`.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

if TYPE_CHECKING:
    from lakeloom.runtime.references import ReferenceScope, TaskRef


class DynamicReferenceError(ValueError):
    """A ``{{...}}`` reference could not be resolved; ``reference`` is its full text."""

    def __init__(self, reference: str, message: str) -> None:
        super().__init__(f"{reference}: {message}")
        self.reference = reference


class InvalidReference(DynamicReferenceError):
    """An unknown name inside a known namespace, e.g. ``{{job.naem}}``."""


class UnresolvedReference(DynamicReferenceError):
    """A well-formed reference whose value is not available for this task attempt."""


# --- syntax -------------------------------------------------------------------

# A name with special characters is escaped in backticks (documented) or square brackets
# (``{{job.parameters.[my param]}}``, the form Databricks' UI writes for such names).
_SEGMENT = r"(?:`[^`]*`|\[[^\]]*\]|[\w\-]+)"
#: A ``{{...}}`` reference; group 1 is its dotted path.
REFERENCE = re.compile(r"\{\{\s*(" + _SEGMENT + r"(?:\." + _SEGMENT + r")*)\s*\}\}")
_SEGMENTS = re.compile(r"`([^`]*)`|\[([^\]]*)\]|([\w\-]+)")


def _split(path: str) -> tuple[str, ...]:
    return tuple(word or quoted or bracketed for quoted, bracketed, word in _SEGMENTS.findall(path))


# --- rendering and time -------------------------------------------------------

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

Getter = Callable[["ReferenceScope"], Any]


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
def parse_reference(path: str) -> _Ref | None:
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
