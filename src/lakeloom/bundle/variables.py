"""Bundle variables: declaration, the value each one takes, and ``lookup``.

The value of a variable, first found wins (the Databricks CLI's order, ``set_variables.go``):
``--var name=value``, the environment variable ``BUNDLE_VAR_<name>``, the file
``.databricks/bundle/<target>/variable-overrides.json``, the (target's, else top-level)
``default``; none of these is an error. Map and list values need ``type: complex`` and can be
given neither on the command line nor in the environment.

``lookup`` turns a workspace object's name into its id, which needs a Databricks workspace:
lakeloom warns and uses the variable's ``default`` when there is one, else it is an error
naming the variable and how to give it a value. A ``warehouse`` lookup is the exception: every
``warehouse_id`` is ignored locally (the run's Spark session is the warehouse), so without a
value it becomes :data:`LOCAL_WAREHOUSE_ID`, with a warning.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lakeloom.bundle.yamlreader import Locations
from lakeloom.spec.loader import JobSpecError, SpecError

#: The value of a ``warehouse`` lookup that has no other value (warehouse ids are ignored locally).
LOCAL_WAREHOUSE_ID = "lakeloom-local"
VARIABLE_KEYS = frozenset({"default", "description", "type", "lookup"})
LOOKUP_KINDS = frozenset({
    "alert", "cluster_policy", "cluster", "dashboard", "instance_pool", "job", "metastore",
    "notification_destination", "pipeline", "query", "service_principal", "warehouse",
})


def _where(locs: Locations, container: Any, key: Any, source: str) -> tuple[str, int | None]:
    loc = locs.of(container, key)
    return (loc.file, loc.line) if loc else (source, None)


def _check_declaration(name: str, var: Any, variables: dict[str, Any], locs: Locations,
                       source: str) -> list[SpecError]:
    file, line = _where(locs, variables, name, source)
    if not isinstance(var, dict):
        return [SpecError(file, line, f"variable {name} must be a mapping with a default, description, "
                                      "type or lookup", field=f"variables.{name}")]
    errors = [SpecError(file, line, f"unknown field: {k}", field=f"variables.{name}.{k}")
              for k in var if k not in VARIABLE_KEYS]
    if var.get("type") not in (None, "complex"):
        errors.append(SpecError(file, line, f"variable {name}: unknown type {var['type']!r} (only 'complex')",
                                field=f"variables.{name}.type"))
    lookup = var.get("lookup")
    if lookup is not None:
        kinds = list(lookup) if isinstance(lookup, dict) else []
        if len(kinds) != 1 or kinds[0] not in LOOKUP_KINDS:
            errors.append(SpecError(file, line, f"variable {name}: lookup needs exactly one of "
                                                f"{', '.join(sorted(LOOKUP_KINDS))}", field=f"variables.{name}.lookup"))
    return errors


def _is_complex(value: Any) -> bool:
    return isinstance(value, (dict, list))


def _overrides_file(root: Path, target: str) -> dict[str, Any]:
    path = root / ".databricks" / "bundle" / target / "variable-overrides.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise JobSpecError([SpecError(str(path), None, f"failed to parse variables file: {e}")]) from None
    if not isinstance(data, dict):
        raise JobSpecError([SpecError(str(path), None, "failed to parse variables file: expected a JSON object")])
    return data


def assign_values(config: dict[str, Any], locs: Locations, source: str, root: Path, target: str,
                  cli_vars: dict[str, str]) -> list[SpecError]:
    """Set ``variables.<name>.value`` for every declared variable; returns warnings, raises errors."""
    variables = config.get("variables") or {}
    config["variables"] = variables
    errors: list[SpecError] = []
    warnings: list[SpecError] = []
    for name in cli_vars:
        if name not in variables:
            errors.append(SpecError(source, None, f'variable "{name}" is not defined', field=f"--var {name}"))
    file_values = _overrides_file(root, target)
    for name, var in list(variables.items()):
        problems = _check_declaration(name, var, variables, locs, source)
        if problems:
            errors.extend(problems)
            continue
        file, line = _where(locs, variables, name, source)
        complex_type = var.get("type") == "complex"
        env_name = f"BUNDLE_VAR_{name}"
        if name in cli_vars:
            if complex_type:
                errors.append(SpecError(file, line, f"setting via the command line is not supported for complex "
                                                    f"variable {name}", field=f"variables.{name}"))
                continue
            value: Any = cli_vars[name]
        elif env_name in os.environ:
            if complex_type:
                errors.append(SpecError(file, line, f"setting via environment variables ({env_name}) is not "
                                                    f"supported for complex variable {name}",
                                        field=f"variables.{name}"))
                continue
            value = os.environ[env_name]
        elif name in file_values:
            value = file_values[name]
            if complex_type != _is_complex(value):
                kind = "is of type complex, but the value in the variable file is not a complex type" if \
                    complex_type else "is not of type complex, but the value in the variable file is a complex type"
                errors.append(SpecError(file, line, f"variable {name} {kind}", field=f"variables.{name}"))
                continue
        elif "default" in var and var["default"] is not None:
            value = var["default"]
            dfile, dline = _where(locs, var, "default", file)
            if _is_complex(value) and not complex_type:
                # The CLI accepts it (Variable.Set checks the old value, not the new one); say so.
                warnings.append(SpecError(dfile, dline, f"variable {name} has a {type(value).__name__} value "
                                                        "without 'type: complex' in its declaration",
                                          field=f"variables.{name}.default", severity="warning"))
            if var.get("lookup") is not None:
                kind, what = next(iter(var["lookup"].items()))
                warnings.append(SpecError(file, line, f"variable {name}: lookup of {kind} {what!r} needs a "
                                                      f"Databricks workspace; using its default {value!r}",
                                          field=f"variables.{name}.lookup", severity="warning"))
        elif var.get("lookup") is not None and next(iter(var["lookup"])) == "warehouse":
            value = LOCAL_WAREHOUSE_ID
            warnings.append(SpecError(file, line, f"variable {name}: lookup of warehouse "
                                                  f"{var['lookup']['warehouse']!r} needs a Databricks workspace; "
                                                  f"using {value!r} (lakeloom ignores warehouse ids: the run's "
                                                  "Spark session runs the SQL)",
                                      field=f"variables.{name}.lookup", severity="warning"))
        elif var.get("lookup") is not None:
            kind, what = next(iter(var["lookup"].items()))
            errors.append(SpecError(file, line, f"variable {name}: lookup of {kind} {what!r} needs a Databricks "
                                                f"workspace, which lakeloom does not have; give the variable a "
                                                f"value with --var=\"{name}=...\", {env_name} or a default",
                                    field=f"variables.{name}.lookup"))
            continue
        else:
            errors.append(SpecError(file, line, f"no value assigned to required variable {name}. Variables are "
                                                f"usually assigned in databricks.yml, and they can be overridden "
                                                f"using \"--var\", the {env_name} environment variable, or "
                                                f".databricks/bundle/<target>/variable-overrides.json",
                                    field=f"variables.{name}"))
            continue
        var["value"] = value
        where = locs.of(var, "default") or locs.of(variables, name)
        if where:
            locs.mark_entry(var, "value", where)
    if errors:
        raise JobSpecError(errors)
    return warnings
