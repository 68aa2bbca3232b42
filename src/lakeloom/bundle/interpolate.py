"""``${...}`` references in bundle configuration (the CLI's ``libs/dyn/dynvar``).

A reference names a path in the configuration: ``${bundle.name}``, ``${bundle.target}``
(legacy ``${bundle.environment}``), ``${workspace.current_user.short_name}``,
``${workspace.file_path}``, ``${var.x}`` (= ``${variables.x.value}``, ``${var.x.key}`` for a
complex value), ``${resources.<type>.<key>.<field>}``. A string that is only a reference takes
the referenced value with its type; inside other text the value is formatted as a string.
References whose first segment is none of ``bundle workspace variables var resources
artifacts`` are left as written (they belong to someone else); any other reference that does
not resolve is an error naming its file and line.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable

from lakeloom.bundle.yamlreader import Locations
from lakeloom.spec.loader import JobSpecError, SpecError

_SEGMENT = r"[^\W\d_]+(?:[-_]*[^\W_]+)*(?:\[[0-9]+\])*"
REFERENCE = re.compile(r"\$\{(" + _SEGMENT + r"(?:\." + _SEGMENT + r")*)\}")
KNOWN_ROOTS = frozenset({"bundle", "workspace", "variables", "var", "resources", "artifacts"})

Path_ = tuple[Any, ...]
#: Computes a field the configuration does not hold (e.g. a schema's ``id``); None = unknown.
VirtualField = Callable[[Path_, "Resolver"], Any]


class _Missing(Exception):
    """A referenced path is not in the configuration."""


def parse_path(ref: str) -> Path_:
    """``var.x.items[0]`` -> ``("variables", "x", "value", "items", 0)``."""
    parts: list[Any] = []
    for seg in ref.split("."):
        name, *indexes = seg.split("[")
        parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in indexes)
    if parts and parts[0] == "var":
        parts = ["variables", parts[1], "value", *parts[2:]] if len(parts) > 1 else parts
    return tuple(parts)


class Resolver:
    """Resolves references in place over the whole tree, for the roots in ``roots``."""

    def __init__(self, config: dict[str, Any], locs: Locations, source: str, roots: frozenset[str],
                 virtual: VirtualField | None = None, keep: Callable[[Path_, str], bool] | None = None) -> None:
        self.config = config
        self.locs = locs
        self.source = source
        self.roots = roots
        self.virtual = virtual
        self.keep = keep
        self.errors: list[SpecError] = []
        self.done: set[Path_] = set()
        self.active: list[Path_] = []

    def run(self, start: Path_ = ()) -> None:
        """Resolve everything under ``start``; raises :class:`JobSpecError` listing every failure."""
        self._visit(start)
        if self.errors:
            raise JobSpecError(self.errors)

    def _node(self, path: Path_) -> tuple[Any, Any, Any]:
        parent, key, node = None, None, self.config
        for part in path:
            if isinstance(node, dict) and part in node:
                parent, key, node = node, part, node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                parent, key, node = node, part, node[part]
            else:
                raise _Missing
        return parent, key, node

    def _visit(self, path: Path_) -> None:
        if path in self.done:
            return
        if path in self.active:
            cycle = " -> ".join("${" + _dotted(p) + "}" for p in self.active[self.active.index(path):] + [path])
            raise _Cycle(f"cycle detected in field resolution: {cycle}")
        try:
            parent, key, node = self._node(path)
        except _Missing:
            return
        self.active.append(path)
        try:
            if isinstance(node, dict):
                for k in list(node):
                    self._visit(path + (k,))
            elif isinstance(node, list):
                for i in range(len(node)):
                    self._visit(path + (i,))
            elif isinstance(node, str) and "${" in node and parent is not None:
                parent[key] = self._resolve_string(node, path, parent, key)
        finally:
            self.active.pop()
        self.done.add(path)

    def _fail(self, parent: Any, key: Any, message: str) -> None:
        where = self.locs.of(parent, key) if parent is not None else None
        self.errors.append(SpecError(where.file if where else self.source, where.line if where else None, message))

    def _resolve_string(self, text: str, path: Path_, parent: Any, key: Any) -> Any:
        matches = list(REFERENCE.finditer(text))
        values: list[Any] = []
        for m in matches:
            ref = m.group(1)
            target = parse_path(ref)
            if target[0] not in self.roots or (self.keep is not None and self.keep(path, ref)):
                values.append(m.group(0))
                continue
            try:
                values.append(self.lookup(target))
            except _Missing:
                self._fail(parent, key, f"reference does not exist: ${{{ref}}}")
                values.append(m.group(0))
            except _Cycle as e:
                self._fail(parent, key, str(e))
                values.append(m.group(0))
        if len(matches) == 1 and matches[0].group(0) == text:
            return values[0]
        out, last = [], 0
        for m, value in zip(matches, values):
            if isinstance(value, (dict, list)):
                self._fail(parent, key, f"cannot interpolate non-primitive value of type "
                                        f"{'map' if isinstance(value, dict) else 'sequence'} into string: "
                                        f"{m.group(0)}")
                value = m.group(0)
            out.append(text[last:m.start()])
            out.append(_format(value))
            last = m.end()
        out.append(text[last:])
        return "".join(out)

    def lookup(self, target: Path_) -> Any:
        """The resolved value at ``target`` (a copy for containers); raises ``Missing``."""
        try:
            self._node(target)
        except _Missing:
            value = self.virtual(target, self) if self.virtual else None
            if value is None:
                raise
            return value
        self._visit(target)
        return copy.deepcopy(self._node(target)[2])


class _Cycle(Exception):
    pass


Missing = _Missing


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def unresolved_references(config: Any, locs: Locations, source: str) -> list[SpecError]:
    """Every reference to a bundle root still left in ``config`` (an error each)."""
    errors: list[SpecError] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            if isinstance(v, str) and "${" in v:
                for m in REFERENCE.finditer(v):
                    if parse_path(m.group(1))[0] in KNOWN_ROOTS:
                        where = locs.of(node, k)
                        errors.append(SpecError(where.file if where else source, where.line if where else None,
                                                f"reference does not exist: {m.group(0)}"))
            else:
                walk(v)

    walk(config)
    return errors
