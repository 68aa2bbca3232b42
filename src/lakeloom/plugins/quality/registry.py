"""GX's expectation names and arguments, known without importing Great Expectations.

``lakeloom validate`` must stay fast and ``import great_expectations`` takes 3–5 s, so the
pydantic fields of GX's expectation classes are read once per GX version into a JSON
registry: ``gx_expectations.json`` ships with lakeloom for the GX version it was generated
from; another installed version gets its own registry, built once in a subprocess and cached
under ``~/.cache/lakeloom/`` (``$XDG_CACHE_HOME``). Regenerate the shipped one with
``python -m lakeloom.plugins.quality.registry src/lakeloom/plugins/quality/gx_expectations.json``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).with_name("gx_expectations.json")
#: Fields every GX expectation has that are GX's bookkeeping, not something to write in a job.
_INTERNAL_FIELDS = {"rendered_content", "batch_id", "id"}


@dataclass(frozen=True)
class ArgSpec:
    """One argument of an expectation: whether it is required and the JSON types it takes."""

    required: bool = False
    types: tuple[str, ...] = ()  # empty: any type
    enum: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class ExpectationRegistry:
    """Expectation names -> their arguments, for one GX version."""

    gx_version: str
    expectations: dict[str, dict[str, ArgSpec]]
    #: Per expectation, groups of arguments of which at least one must be given
    #: (``min_value``/``max_value`` of the ``*_to_be_between`` family).
    one_of: dict[str, list[list[str]]] = field(default_factory=dict)
    severities: tuple[str, ...] = ("critical", "warning", "info")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExpectationRegistry:
        return cls(
            gx_version=data["gx_version"],
            expectations={name: {arg: ArgSpec(required=a.get("required", False), types=tuple(a.get("types") or ()),
                                              enum=tuple(a.get("enum") or ()), minimum=a.get("minimum"),
                                              maximum=a.get("maximum"))
                                 for arg, a in args.items()}
                          for name, args in data["expectations"].items()},
            one_of={k: [list(g) for g in v] for k, v in (data.get("one_of") or {}).items()},
            severities=tuple(data.get("severities") or ("critical", "warning", "info")),
        )


def installed_gx_version() -> str | None:
    """The installed ``great-expectations`` version, without importing it.

    Read from the name of the ``.dist-info`` folder beside the package: ``metadata.version``
    scans every distribution on the path and cost ~100 ms here, more than the whole check.
    """
    spec = importlib.util.find_spec("great_expectations")
    if spec is None or spec.origin is None:
        return None
    for dist_info in Path(spec.origin).parent.parent.glob("great_expectations-*.dist-info"):
        return dist_info.name.removeprefix("great_expectations-").removesuffix(".dist-info")
    try:
        return metadata.version("great-expectations")
    except metadata.PackageNotFoundError:
        return None


def cache_path(version: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lakeloom" / f"gx-expectations-{version}.json"


@lru_cache(maxsize=1)
def load_registry() -> ExpectationRegistry:
    """The registry matching the installed GX (the shipped one when GX is absent).

    A version other than the shipped one is built once in a subprocess (so this process never
    imports GX) and cached; if that fails, the shipped registry is the best available answer.
    """
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    version = installed_gx_version()
    if version is None or version == shipped["gx_version"]:
        return ExpectationRegistry.from_json(shipped)
    cached = cache_path(version)
    if not cached.is_file():
        proc = subprocess.run([sys.executable, "-m", __name__, str(cached)], capture_output=True, text=True)
        if proc.returncode != 0 or not cached.is_file():
            return ExpectationRegistry.from_json(shipped)
    return ExpectationRegistry.from_json(json.loads(cached.read_text(encoding="utf-8")))


# --- building (imports GX) -------------------------------------------------------------


def _json_types(prop: dict[str, Any], definitions: dict[str, Any]) -> set[str] | None:
    """JSON types a schema property accepts; None when it accepts anything."""
    if "$ref" in prop:
        target = definitions.get(prop["$ref"].rsplit("/", 1)[-1], {})
        return _json_types(target, definitions) if ("type" in target or "enum" in target) else {"object"}
    alternatives = prop.get("anyOf") or prop.get("oneOf") or prop.get("allOf")
    if alternatives:
        out: set[str] = set()
        for alt in alternatives:
            sub = _json_types(alt, definitions)
            if sub is None:
                return None
            out |= sub
        return out
    if "type" in prop:
        kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        return set(kinds) | ({"integer"} if "number" in kinds else set())
    if "enum" in prop:
        return {"string"}
    return None


def _facets(prop: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """``enum``, ``minimum``, ``maximum`` of a property, looking through ``$ref`` and ``anyOf``."""
    out: dict[str, Any] = {}
    stack = [prop]
    while stack:
        p = stack.pop()
        if "$ref" in p:
            stack.append(definitions.get(p["$ref"].rsplit("/", 1)[-1], {}))
        stack.extend(p.get("anyOf") or p.get("oneOf") or p.get("allOf") or [])
        for key in ("enum", "minimum", "maximum"):
            if key in p and key not in out:
                out[key] = tuple(p[key]) if key == "enum" else p[key]
    return out


def _probe_one_of(cls: Any, args: dict[str, ArgSpec]) -> list[list[str]]:
    """``[["min_value", "max_value"]]`` when GX rejects the expectation with neither given."""
    if not {"min_value", "max_value"} <= args.keys():
        return []
    dummies = {"string": "x", "array": ["x"], "object": {}, "number": 1, "integer": 1, "boolean": True}
    base = {a: dummies.get(next(iter(spec.types), "string"), "x") for a, spec in args.items() if spec.required}
    try:
        cls(**base)
    except Exception:  # noqa: BLE001 - any rejection without the bounds; confirm with one bound given
        try:
            cls(**base, min_value=1)
            cls(**base, max_value=1)
        except Exception:  # noqa: BLE001
            return []
        return [["min_value", "max_value"]]
    return []


def build_registry() -> dict[str, Any]:
    """Read every registered GX expectation class's pydantic fields (imports GX)."""
    import great_expectations as gx
    import great_expectations.expectations  # noqa: F401 - registers the core expectations
    from great_expectations.expectations.metadata_types import FailureSeverity
    from great_expectations.expectations.registry import _registered_expectations

    expectations: dict[str, dict[str, Any]] = {}
    one_of: dict[str, list[list[str]]] = {}
    for name, cls in sorted(_registered_expectations.items()):
        schema = cls.schema()
        props, definitions = schema.get("properties", {}), schema.get("definitions", {})
        args: dict[str, ArgSpec] = {}
        for f in cls.__fields__.values():
            arg = f.alias  # what GX's configurations spell, e.g. ``type`` for the field ``type_``
            if arg in _INTERNAL_FIELDS:
                continue
            prop = props.get(arg, {})
            types = _json_types(prop, definitions)
            if types is not None and f.allow_none:
                types.add("null")
            args[arg] = ArgSpec(required=bool(f.required), types=tuple(sorted(types or ())),
                                **_facets(prop, definitions))
        expectations[name] = {a: {k: v for k, v in vars(s).items() if not (v is None or v is False or v == ())}
                              for a, s in args.items()}
        if groups := _probe_one_of(cls, args):
            one_of[name] = groups
    return {"gx_version": gx.__version__, "severities": [s.value for s in FailureSeverity],
            "expectations": expectations, "one_of": one_of}


def write_registry(path: Path) -> None:
    """Build the registry and write it atomically to ``path``."""
    data = build_registry()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gx-registry-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    write_registry(Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED)
