"""YAML as the Databricks CLI reads bundle files (``go.yaml.in/yaml/v3`` + ``libs/dyn/yamlloader``).

Differences from PyYAML's safe loader that matter to real bundles:

- only ``true``/``false`` (any case) are booleans; ``yes``, ``on``, ``y`` stay strings;
- integers are YAML 1.2 ones (``0777`` is 777, ``1:30`` is a string), dates stay strings;
- ``<<`` merge keys take an alias or a sequence of aliases, local keys win, and a second
  ``<<`` in one mapping is an error;
- a duplicate key is an error (the issue asks for it; the CLI itself keeps the last one).

Every mapping key and sequence item keeps its file and line in a :class:`Locations` table so
errors after merging files and targets still name where a value was written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lakeloom.spec.loader import JobSpecError, SpecError


@dataclass(frozen=True)
class Loc:
    """Where a value was written."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Locations:
    """File:line of the containers of a config tree and of their entries.

    Keyed by the container object (kept alive here) and the key or index inside it, so the
    table survives merges that move containers around.
    """

    def __init__(self) -> None:
        self._own: dict[int, Loc] = {}
        self._entries: dict[tuple[int, Any], Loc] = {}
        self._alive: list[Any] = []
        #: ids of resources (Python-defined) whose relative paths start at the bundle folder.
        self.relative_to_root: set[int] = set()
        #: ids of values built from an anchored YAML node (``key: &name ...``, or ``*name``).
        self.anchored: set[int] = set()

    def mark(self, container: Any, loc: Loc) -> None:
        if id(container) not in self._own:
            self._alive.append(container)
        self._own[id(container)] = loc

    def mark_entry(self, container: Any, key: Any, loc: Loc) -> None:
        self._entries[(id(container), key)] = loc

    def of(self, container: Any, key: Any = None) -> Loc | None:
        """Where ``container[key]`` (or the container itself) was written."""
        if key is not None:
            found = self._entries.get((id(container), key))
            if found is not None:
                return found
        return self._own.get(id(container))

    def at(self, root: Any, path: tuple[Any, ...]) -> Loc | None:
        """The location of the deepest known point of ``path`` from ``root``."""
        best = self._own.get(id(root))
        node = root
        for part in path:
            found = self.of(node, part)
            best = found or best
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        return best

    def absorb(self, other: Locations) -> None:
        self._own.update(other._own)
        self._entries.update(other._entries)
        self._alive.extend(other._alive)
        self.relative_to_root |= other.relative_to_root
        self.anchored |= other.anchored

    def only_anchors(self, value: Any) -> bool:
        """Whether ``value`` is an anchored block, or a non-empty container of nothing but such
        blocks: the CLI drops an unknown key holding one without a warning (it is there to be
        aliased, e.g. ``job-config: &job-config ...`` then ``<<: *job-config``)."""
        if id(value) in self.anchored:
            return True
        items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
        return bool(items) and all(self.only_anchors(v) for v in items)


_BOOL = re.compile(r"^(?:true|false)$", re.I)
_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TAG = "tag:yaml.org,2002:"

_base_loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _BundleLoader(_base_loader):  # type: ignore[misc, valid-type]
    """PyYAML's (C) parser with YAML 1.2 core scalar resolution, as yaml.v3 does."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _regex, _first in [
    ("bool", _BOOL, list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+.0123456789")),
    ("null", _NULL, ["~", "n", "N", ""]),
    ("merge", re.compile(r"^(?:<<)$"), ["<"]),
]:
    _BundleLoader.add_implicit_resolver(_TAG + _tag, _regex, _first)


def _scalar(node: yaml.ScalarNode, where: Loc) -> Any:
    tag, text = node.tag.removeprefix(_TAG), node.value
    if tag == "bool":
        if text.lower() not in ("true", "false"):
            raise _error(where, f"invalid bool value: {text}")
        return text.lower() == "true"
    if tag == "int":
        clean = text.replace("_", "")
        try:
            return int(clean.lstrip("0") or "0", 10) if clean.isdigit() else int(clean, 0)
        except ValueError:
            raise _error(where, f"invalid int value: {text}") from None
    if tag == "float":
        low = text.lower().lstrip("+")
        if low in (".inf", "-.inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        if low == ".nan":
            return float("nan")
        return float(text.replace("_", ""))
    if tag == "null":
        return None
    return text  # str, timestamp, binary and custom tags: the text as written


def _error(where: Loc, message: str) -> JobSpecError:
    return JobSpecError([SpecError(where.file, where.line, message)])


class _Builder:
    def __init__(self, source: str, locs: Locations, anchors: set[tuple[int, int]] | None = None) -> None:
        self.source = source
        self.locs = locs
        self.active: set[int] = set()
        self.anchors = anchors or set()  # (line, column) where an anchored collection starts

    def loc(self, node: yaml.Node) -> Loc:
        return Loc(self.source, node.start_mark.line + 1)

    def build(self, node: yaml.Node) -> Any:
        if id(node) in self.active:
            raise _error(self.loc(node), "cyclic anchor reference")
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node, self.loc(node))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                out_list: list[Any] = []
                self.locs.mark(out_list, self.loc(node))
                for i, item in enumerate(node.value):
                    self.locs.mark_entry(out_list, i, self.loc(item))
                    out_list.append(self.build(item))
                built: Any = out_list
            else:
                built = self.mapping(node)
            if (node.start_mark.line, node.start_mark.column) in self.anchors:
                self.locs.anchored.add(id(built))
            return built
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.locs.mark(out, self.loc(node))
        merge: yaml.Node | None = None
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise _error(self.loc(k), "key is not a scalar")
            if k.tag == _TAG + "merge":
                if merge is not None:
                    raise _error(self.loc(k), "duplicate YAML merge key ('<<') is not allowed; to merge "
                                              "multiple maps, use a sequence: '<<: [*anchor1, *anchor2]'")
                merge = v
                continue
            key = k.value
            if key in out:
                first = self.locs.of(out, key)
                raise _error(self.loc(k), f"duplicate key {key!r}" + (f" (first at line {first.line})" if first else ""))
            self.locs.mark_entry(out, key, self.loc(k))
            out[key] = self.build(v)
        if merge is None:
            return out
        sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
        merged: dict[str, Any] = {}
        for src in sources:
            value = self.build(src)
            if not isinstance(value, dict):
                raise _error(self.loc(merge), "map merge requires map or sequence of maps as the value")
            for key, item in value.items():
                merged[key] = item
                where = self.locs.of(value, key)
                if where:
                    self.locs.mark_entry(merged, key, where)
        for key, item in out.items():
            merged[key] = item
            where = self.locs.of(out, key)
            if where:
                self.locs.mark_entry(merged, key, where)
        self.locs.mark(merged, self.loc(node))
        return merged


def parse_yaml(text: str, source: str, locs: Locations | None = None) -> tuple[Any, Locations]:
    """Parse one document; YAML errors become a :class:`JobSpecError` with file:line."""
    locs = locs if locs is not None else Locations()
    try:
        node = yaml.compose(text, Loader=_BundleLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
        raise JobSpecError([SpecError(source, line, message)]) from None
    if node is None:
        return None, locs
    # Composed nodes do not keep their anchor (the C composer forgets it), so find them in the events.
    anchors = {(e.start_mark.line, e.start_mark.column) for e in yaml.parse(text, Loader=_BundleLoader)
               if isinstance(e, (yaml.MappingStartEvent, yaml.SequenceStartEvent)) and e.anchor}
    return _Builder(source, locs, anchors).build(node), locs


def read_yaml(path: Path, locs: Locations | None = None) -> tuple[Any, Locations]:
    """Read and parse a bundle file (YAML or JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise JobSpecError([SpecError(str(path), None, f"cannot read file: {e.strerror or e}")]) from None
    return parse_yaml(text, str(path), locs)
