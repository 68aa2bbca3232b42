"""Expectations as written by users: inline in job YAML or in a GX suite file (JSON or YAML).

Two shapes are accepted for an entry, in both places:

- lakeloom's short form, one key naming the expectation:
  ``{expect_column_values_to_be_between: {column: amount, min_value: 0, severity: warning}}``;
- GX's own form, as ``ExpectationSuite.to_json_dict()`` writes it:
  ``{type: expect_..., kwargs: {...}, meta: {...}, severity: warning}``.

A suite file is GX's suite document (``{name, expectations: [...], meta}``) or a bare list.
Nothing here imports Great Expectations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakeloom.spec.loader import JobSpecError, LineMap, parse_yaml_with_lines

#: Keys of GX's form that sit beside ``kwargs`` (they are expectation fields all the same).
GX_ENTRY_FIELDS = ("meta", "notes", "description", "severity", "id", "rendered_content")

Loc = tuple[str | int, ...]


class SuiteFileError(ValueError):
    """A suite file that cannot be read or is not a suite; the message names file and line."""


@dataclass
class ExpectationSpec:
    """One expectation: GX's name and every field (arguments, severity, meta, ...)."""

    type: str
    fields: dict[str, Any]
    #: Where the entry sits (``("expectations", 2)`` inline, ``("expectations", 2)`` in a file).
    loc: Loc = ()
    gx_form: bool = False
    #: Fields written beside ``kwargs`` in GX's form.
    outer: set[str] = field(default_factory=set)

    @property
    def severity(self) -> str:
        return str(self.fields.get("severity") or "critical").lower()

    def loc_of(self, arg: str | None = None) -> Loc:
        """Where ``arg`` (or the entry's name when None) was written."""
        if self.gx_form:
            if arg is None:
                return self.loc + ("type",)
            return self.loc + ((arg,) if arg in self.outer else ("kwargs", arg))
        return self.loc + (self.type,) + ((arg,) if arg else ())


@dataclass
class EntryProblem:
    """An entry whose shape is wrong (before its name and arguments can be checked)."""

    loc: Loc
    message: str


def parse_entries(entries: list[Any], base: Loc = ()) -> tuple[list[ExpectationSpec], list[EntryProblem]]:
    """Normalize expectation entries of either shape; problems name the entry's location."""
    specs: list[ExpectationSpec] = []
    problems: list[EntryProblem] = []
    for i, entry in enumerate(entries):
        loc = base + (i,)
        if isinstance(entry, str):  # an expectation that needs no arguments
            entry = {entry: {}}
        if not isinstance(entry, dict) or not entry:
            problems.append(EntryProblem(loc, "an expectation is a mapping: {expect_...: {arguments}} "
                                              "or {type: expect_..., kwargs: {...}}"))
            continue
        if "type" in entry:  # no expectation is called "type": this is GX's form
            kwargs = entry.get("kwargs") or {}
            extra = set(entry) - {"type", "kwargs", *GX_ENTRY_FIELDS}
            if not isinstance(kwargs, dict) or extra or not isinstance(entry["type"], str):
                what = f"unknown key(s) {', '.join(sorted(map(str, extra)))}" if extra else "kwargs must be a mapping"
                problems.append(EntryProblem(loc, f"{what} in {{type, kwargs, meta, severity, notes}}"))
                continue
            outer = {k for k in GX_ENTRY_FIELDS if k in entry and entry[k] is not None}
            specs.append(ExpectationSpec(entry["type"], {**kwargs, **{k: entry[k] for k in outer}}, loc, True, outer))
            continue
        if len(entry) != 1:
            problems.append(EntryProblem(loc, f"one expectation per list item (found {', '.join(map(str, entry))})"))
            continue
        ((name, args),) = entry.items()
        if args is None:
            args = {}
        if not isinstance(args, dict):
            problems.append(EntryProblem(loc + (name,), f"the arguments of {name} must be a mapping"))
            continue
        specs.append(ExpectationSpec(str(name), dict(args), loc))
    return specs, problems


@dataclass
class SuiteFile:
    """A parsed suite file: its expectations, problems in their shape, and key lines."""

    path: Path
    name: str
    specs: list[ExpectationSpec]
    problems: list[EntryProblem]
    lines: LineMap

    def line(self, loc: Loc) -> int | None:
        return self.lines.line_of(loc)

    def where(self, loc: Loc) -> str:
        line = self.line(loc)
        return f"{self.path}:{line}" if line else str(self.path)


def resolve_path(path: str, base_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def load_suite_file(path: Path) -> SuiteFile:
    """Read a GX suite (``.json``, ``.yml``, ``.yaml``); SuiteFileError when unreadable or not a suite."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SuiteFileError(f"suite file {path}: cannot read it: {e.strerror or e}") from None
    try:
        data, lines = parse_yaml_with_lines(text, str(path))
    except JobSpecError as e:
        raise SuiteFileError("; ".join(err.format() for err in e.errors)) from None
    if isinstance(data, list):
        entries, base, name = data, (), path.stem
    elif isinstance(data, dict) and isinstance(data.get("expectations"), list):
        entries, base, name = data["expectations"], ("expectations",), str(data.get("name") or path.stem)
    else:
        raise SuiteFileError(f"{path}:{lines.line_of(())}: a suite file is a GX suite "
                             "({name, expectations: [...]}) or a list of expectations")
    specs, problems = parse_entries(entries, base)
    return SuiteFile(path, name, specs, problems, lines)
