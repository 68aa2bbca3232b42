"""Choosing a bundle target and merging it over the top-level configuration.

The Databricks CLI's rules (``bundle/config/root.go`` ``MergeTargetOverrides`` and the
target selectors): ``--target``, else ``DATABRICKS_BUNDLE_TARGET``, else the only target,
else the one marked ``default: true``. No ``targets`` at all gives a synthetic ``default``.
``bundle workspace artifacts resources sync permissions presets`` merge deeply; a target's
``variables`` set the variables' ``default`` (or ``lookup``); ``run_as`` and ``mode`` replace.
"""
from __future__ import annotations

import copy
import os
from typing import Any

from lakeloom.bundle.merge import merge, merge_keyed_lists
from lakeloom.bundle.yamlreader import Locations
from lakeloom.spec.loader import JobSpecError, SpecError

MERGED_SECTIONS = ("bundle", "workspace", "artifacts", "resources", "sync", "permissions", "presets")
TARGET_KEYS = frozenset({
    "default", "mode", "compute_id", "cluster_id", "bundle", "workspace", "artifacts", "resources", "sync",
    "permissions", "presets", "variables", "run_as", "git", "python",
})


def _error(locs: Locations, container: Any, key: Any, source: str, message: str) -> JobSpecError:
    where = locs.of(container, key)
    return JobSpecError([SpecError(where.file if where else source, where.line if where else None, message)])


def select_target(config: dict[str, Any], locs: Locations, source: str, requested: str | None) -> str:
    """The name of the target to use (raises with the CLI's messages)."""
    targets = config.get("targets")
    if not targets:
        if requested and requested != "default":
            raise JobSpecError([SpecError(source, None, f"{requested}: no such target. Available targets: "
                                                        "default (the bundle defines no targets)")])
        return "default"
    if not isinstance(targets, dict):
        raise _error(locs, config, "targets", source, "targets must be a mapping of target name to settings")
    name = requested or os.environ.get("DATABRICKS_BUNDLE_TARGET") or None
    if name is not None:
        if name not in targets:
            raise JobSpecError([SpecError(source, None, f"{name}: no such target. Available targets: "
                                                        f"{', '.join(targets)}")])
        return name
    if len(targets) == 1:
        return next(iter(targets))
    defaults = [n for n, t in targets.items() if isinstance(t, dict) and t.get("default") is True]
    if len(defaults) > 1:
        raise JobSpecError([SpecError(source, None, f"multiple targets are marked as default "
                                                    f"({', '.join(defaults)})")])
    if not defaults:
        raise JobSpecError([SpecError(source, None, f"please specify target (one of: {', '.join(targets)}) "
                                                    "with --target, or mark one 'default: true'")])
    return defaults[0]


def _variable_override(value: Any, declared: Any) -> dict[str, Any]:
    """A target's variable entry in its full form (``{default: ...}`` or ``{lookup: ...}``)."""
    full_keys = {"default", "lookup", "description", "type"}
    if isinstance(value, dict) and value and set(value) <= full_keys:
        complex_root = isinstance(declared, dict) and declared.get("type") == "complex"
        if not complex_root or "default" in value or "lookup" in value:
            return value
    return {"default": value}


def apply_target(config: dict[str, Any], locs: Locations, source: str, name: str) -> list[SpecError]:
    """Merge target ``name`` into ``config`` in place; returns warnings (unknown target fields)."""
    target = (config.get("targets") or {}).get(name) or {}
    if not isinstance(target, dict):
        raise _error(locs, config.get("targets"), name, source, f"target {name!r} must be a mapping")
    errors: list[SpecError] = []
    for key in target:
        if key not in TARGET_KEYS and not locs.only_anchors(target[key]):
            where = locs.of(target, key)
            errors.append(SpecError(where.file if where else source, where.line if where else None,
                                    f"unknown field: {key}", field=f"targets.{name}.{key}", severity="warning"))
    target = copy.copy(target)  # the section dicts are merged into the root; the targets table stays readable
    for section in MERGED_SECTIONS:
        if section in target:
            where = locs.of(target, section)
            if section not in config and where:
                locs.mark_entry(config, section, where)
            config[section] = merge(config.get(section), target[section], locs)
    declared = config.setdefault("variables", {}) or {}
    config["variables"] = declared
    for var, value in (target.get("variables") or {}).items():
        where = locs.of(target["variables"], var)
        if var not in declared:
            raise JobSpecError([SpecError(where.file if where else source, where.line if where else None,
                                          f"variable {var} is not defined but is assigned a value",
                                          field=f"targets.{name}.variables.{var}")])
        entry = declared[var] if isinstance(declared[var], dict) else {"default": declared[var]}
        declared[var] = entry
        override = _variable_override(value, entry)
        if "default" in override:
            entry["default"] = override["default"]
            entry.pop("lookup", None)
            if where:
                locs.mark_entry(entry, "default", where)
        if "lookup" in override:
            entry["lookup"] = override["lookup"]
            entry.pop("default", None)
            if where:
                locs.mark_entry(entry, "lookup", where)
    if "run_as" in target:
        config["run_as"] = target["run_as"]
    bundle = config.setdefault("bundle", {}) or {}
    config["bundle"] = bundle
    if "mode" in target:
        bundle["mode"] = target["mode"]
    for key in ("cluster_id", "compute_id", "git"):
        if key in target:
            bundle[key] = target[key]
    merge_keyed_lists(config, locs)
    return errors
