"""Finding a bundle's root file and reading it with its ``include`` files into one tree.

As the Databricks CLI does: the root is ``databricks.yml`` (or ``.yaml``, or the legacy
``bundle.yml``/``bundle.yaml``; two of them is an error), searched from the given folder
upwards. Only the root file's ``include`` counts; its patterns are relative to the root and
expanded like Go's ``filepath.Glob`` (``**`` matches one level, not any depth); matches are
sorted per pattern, kept once, and must be YAML or JSON files. A literal path that matches
nothing is an error.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakeloom.bundle.merge import merge
from lakeloom.bundle.yamlreader import Locations, read_yaml
from lakeloom.spec.loader import JobSpecError, SpecError

ROOT_FILE_NAMES = ("databricks.yml", "databricks.yaml", "bundle.yml", "bundle.yaml")

TOP_LEVEL_KEYS = frozenset({
    "bundle", "include", "variables", "workspace", "artifacts", "resources", "targets", "environments",
    "sync", "run_as", "presets", "experimental", "permissions", "scripts", "python",
})

RESOURCE_TYPES = (
    "jobs", "pipelines", "schemas", "volumes", "secret_scopes", "dashboards", "registered_models",
    "experiments", "model_serving_endpoints", "models", "quality_monitors", "clusters", "apps",
    "database_instances", "database_catalogs", "synced_database_tables", "alerts", "sql_warehouses",
    "genie_spaces", "postgres_projects", "postgres_branches", "postgres_endpoints", "postgres_catalogs",
    "postgres_databases", "postgres_roles", "postgres_synced_tables",
)


@dataclass
class RawBundle:
    """The merged configuration of the root file and its includes, before a target is applied."""

    root: Path
    root_file: Path
    config: dict[str, Any]
    locs: Locations
    files: list[Path] = field(default_factory=list)
    warnings: list[SpecError] = field(default_factory=list)


def find_root_file(start: str | Path) -> Path:
    """The bundle root file for ``start`` (a root file, or a folder searched upwards)."""
    path = Path(start).resolve()
    if path.is_file():
        return path
    env_root = os.environ.get("DATABRICKS_BUNDLE_ROOT")
    folders = [Path(env_root).resolve()] if env_root else [path, *path.parents]
    for folder in folders:
        found = [folder / n for n in ROOT_FILE_NAMES if (folder / n).is_file()]
        if len(found) > 1:
            names = ", ".join(f.name for f in found)
            raise JobSpecError([SpecError(str(folder), None, f"multiple bundle root configuration files found "
                                                             f"in {folder}: {names}")])
        if found:
            return found[0]
    raise JobSpecError([SpecError(str(path), None, "unable to locate bundle root: databricks.yml not found "
                                                   "in this folder or any parent")])


def _check_top_level(data: dict[str, Any], source: Path, locs: Locations, warnings: list[SpecError]) -> None:
    # The CLI's typed normalisation drops unknown keys after warning, so references inside them
    # (e.g. a key that only holds a YAML anchor) are never resolved.
    for key in [k for k in data if k not in TOP_LEVEL_KEYS]:
        where = locs.of(data, key)
        if not locs.only_anchors(data[key]):
            warnings.append(SpecError(str(source), where.line if where else None, f"unknown field: {key}",
                                      severity="warning"))
        del data[key]


def _legacy_environments(data: dict[str, Any], source: Path, locs: Locations) -> None:
    if "environments" not in data:
        return
    if "targets" in data:
        where = locs.of(data, "environments")
        raise JobSpecError([SpecError(str(source), where.line if where else None,
                                      "both 'environments' and 'targets' are specified; only 'targets' should "
                                      "be used: 'environments' is the legacy name")])
    data["targets"] = data.pop("environments")
    where = locs.of(data, "environments")
    if where:
        locs.mark_entry(data, "targets", where)


def _read(path: Path, locs: Locations, warnings: list[SpecError]) -> dict[str, Any]:
    data, _ = read_yaml(path, locs)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise JobSpecError([SpecError(str(path), 1, "a bundle configuration file must be a mapping")])
    _check_top_level(data, path, locs, warnings)
    _legacy_environments(data, path, locs)
    return data


def _expand_includes(root: Path, root_file: Path, patterns: Any, locs: Locations,
                     config: dict[str, Any]) -> list[Path]:
    if patterns is None:
        return []
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        where = locs.of(config, "include")
        raise JobSpecError([SpecError(str(root_file), where.line if where else None,
                                      "include must be a list of file paths or glob patterns")])
    seen: set[Path] = {root_file}
    files: list[Path] = []
    for i, pattern in enumerate(patterns):
        where = locs.of(patterns, i)
        line = where.line if where else None
        if os.path.isabs(pattern):
            raise JobSpecError([SpecError(str(root_file), line, f"{pattern}: includes must be relative paths")])
        matches = [Path(m).resolve() for m in glob.glob(os.path.join(glob.escape(str(root)), pattern))]
        if not matches and not any(c in pattern for c in "*?["):
            raise JobSpecError([SpecError(str(root_file), line,
                                          f"{pattern} defined in 'include' section does not match any files")])
        fresh = sorted({m for m in matches if m not in seen and m.is_file()})
        bad = [m for m in fresh if m.suffix not in (".yml", ".yaml", ".json")]
        if bad:
            raise JobSpecError([SpecError(str(root_file), line, f"the file {bad[0].relative_to(root)} in the "
                                          "'include' section is not a YAML or JSON file; files to sync belong in "
                                          "'sync.include'")])
        seen.update(fresh)
        files.extend(fresh)
    return files


def _check_unique_resource_keys(pieces: list[tuple[Path, dict[str, Any]]], locs: Locations) -> None:
    first: dict[str, tuple[Path, int | None, str]] = {}
    errors: list[SpecError] = []
    for path, data in pieces:
        resources = data.get("resources")
        if not isinstance(resources, dict):
            continue
        for kind, entries in resources.items():
            if not isinstance(entries, dict):
                continue
            for key in entries:
                where = locs.of(entries, key)
                line = where.line if where else None
                if key in first:
                    other_path, other_line, other_kind = first[key]
                    errors.append(SpecError(str(path), line, f"multiple resources have been defined with the same "
                                                             f"key: {key} ({other_kind} at {other_path}:{other_line}"
                                                             f" and {kind} here)", field=f"resources.{kind}.{key}"))
                else:
                    first[key] = (path, line, kind)
    if errors:
        raise JobSpecError(errors)


def load_raw_bundle(start: str | Path) -> RawBundle:
    """Read the root file and its includes into one tree (no target applied yet)."""
    root_file = find_root_file(start)
    root = root_file.parent
    locs = Locations()
    warnings: list[SpecError] = []
    config = _read(root_file, locs, warnings)
    includes = _expand_includes(root, root_file, config.get("include"), locs, config)
    pieces: list[tuple[Path, dict[str, Any]]] = [(root_file, config)]
    errors: list[SpecError] = []
    for path in includes:
        try:
            data = _read(path, locs, warnings)
        except JobSpecError as e:
            errors.extend(e.errors)
            continue
        if "include" in data:
            where = locs.of(data, "include")
            warnings.append(SpecError(str(path), where.line if where else None, "include defined outside the root "
                                      "file is ignored; move it to the root databricks.yml", severity="warning"))
            data.pop("include")
        pieces.append((path, data))
    if errors:
        raise JobSpecError(errors)
    _check_unique_resource_keys(pieces, locs)
    merged: dict[str, Any] = config
    for _, data in pieces[1:]:
        merged = merge(merged, data, locs)
    return RawBundle(root, root_file, merged, locs, [root_file, *includes], warnings)
