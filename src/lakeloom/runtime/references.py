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
from datetime import datetime
from typing import Any, Callable

from lakeloom.runtime.reference_paths import (
    REFERENCE,
    TIME_ARGS,
    DynamicReferenceError,
    InvalidReference,
    UnresolvedReference,
    parse_reference,
)

__all__ = [
    "DynamicReferenceError", "InvalidReference", "UnresolvedReference",
    "ReferenceScope", "TaskRef", "TIME_ARGS", "resolve", "resolve_deep", "check",
]


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


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


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
        ref = parse_reference(match.group(1))
        return match.group(0) if ref is None else _render(ref.get(scope))

    return REFERENCE.sub(substitute, text)


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
    for match in REFERENCE.finditer(text):
        ref_text = match.group(0)
        try:
            ref = parse_reference(match.group(1))
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
