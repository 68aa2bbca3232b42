"""Static checks of expectations against GX's registry: names, arguments, types, severity.

Runs inside ``lakeloom validate`` (no GX import, see ``registry``). GX's cross-field rules
beyond "at least one of min_value/max_value" are left to GX when the task runs, where a
rejected expectation fails the task before any Spark job with the same location in the message.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any

from lakeloom.plugins.quality.registry import ArgSpec, ExpectationRegistry
from lakeloom.plugins.quality.suite import ExpectationSpec, Loc

#: Arguments every expectation has; left out when listing what an expectation takes.
_COMMON = {"catch_exceptions", "description", "meta", "notes", "result_format", "severity", "windows",
           "row_condition", "condition_parser", "mostly"}


@dataclass(frozen=True)
class Problem:
    """One problem in an expectation: where it was written and what is wrong."""

    loc: Loc
    message: str


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, (str, dt.date)):  # YAML reads 2024-01-31 as a date; GX takes ISO strings and dates
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_value(name: str, arg: str, value: Any, spec: ArgSpec) -> str | None:
    kind = _json_type(value)
    if spec.types and kind not in spec.types:
        wanted = [t for t in spec.types if t != "integer" or "number" not in spec.types]
        return f"argument {arg!r} of {name} takes {' or '.join(wanted)}, not {kind} ({value!r})"
    if spec.enum and isinstance(value, str) and value not in spec.enum:
        return f"argument {arg!r} of {name} is one of {', '.join(map(str, spec.enum))}, not {value!r}"
    if kind in ("integer", "number"):
        if spec.minimum is not None and value < spec.minimum:
            return f"argument {arg!r} of {name} must be >= {spec.minimum:g} (got {value!r})"
        if spec.maximum is not None and value > spec.maximum:
            return f"argument {arg!r} of {name} must be <= {spec.maximum:g} (got {value!r})"
    return None


def check_expectation(spec: ExpectationSpec, registry: ExpectationRegistry) -> list[Problem]:
    """Problems of one expectation; empty when GX's registry accepts its name and arguments."""
    args = registry.expectations.get(spec.type)
    if args is None:
        hint = _suggest(spec.type, sorted(registry.expectations))
        return [Problem(spec.loc_of(), f"unknown expectation {spec.type!r}{hint} "
                                       f"(Great Expectations {registry.gx_version})")]
    problems: list[Problem] = []
    for arg, value in spec.fields.items():
        arg_spec = args.get(arg)
        if arg_spec is None:
            hint = _suggest(str(arg), list(args))
            if not hint:
                own = [a for a in args if a not in _COMMON]
                hint = f"; it takes {', '.join(own) or 'only the common arguments'} and {', '.join(sorted(_COMMON))}"
            problems.append(Problem(spec.loc_of(str(arg)), f"unknown argument {arg!r} of {spec.type}{hint}"))
            continue
        if arg == "severity" and isinstance(value, str) and value.lower() in registry.severities:
            continue
        if arg == "severity":
            problems.append(Problem(spec.loc_of(arg), f"severity is one of {', '.join(registry.severities)}, "
                                                      f"not {value!r}"))
            continue
        if message := _check_value(spec.type, str(arg), value, arg_spec):
            problems.append(Problem(spec.loc_of(str(arg)), message))
    for arg, arg_spec in args.items():
        if arg_spec.required and arg not in spec.fields:
            problems.append(Problem(spec.loc_of(), f"{spec.type} needs argument {arg!r}"))
    for group in registry.one_of.get(spec.type, []):
        if all(spec.fields.get(a) is None for a in group):
            problems.append(Problem(spec.loc_of(), f"{spec.type} needs at least one of {', '.join(group)}"))
    return problems


def check_expectations(specs: list[ExpectationSpec], registry: ExpectationRegistry) -> list[Problem]:
    return [p for spec in specs for p in check_expectation(spec, registry)]
