"""Python-defined bundle resources: ``python: {venv_path, resources, mutators}``.

As the Databricks CLI does, lakeloom runs ``python -m databricks.bundles.build --phase
load_resources`` (then ``--phase apply_mutators`` when mutators are configured) from the
``databricks-bundles`` package, in the bundle folder, with the configuration as JSON in and
out. The interpreter is ``<venv_path>/bin/python`` when that exists, else lakeloom's own. The
resources it adds keep their Python file and line for errors; their relative paths are
relative to the bundle folder, as in the CLI.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lakeloom.bundle.yamlreader import Loc, Locations
from lakeloom.spec.loader import JobSpecError, SpecError

INSTALL_HINT = ("Python-defined resources need the databricks-bundles package: install it into the Python that "
                "loads them (pip install databricks-bundles, or pip install 'lakeloom[dev]')")


def _interpreter(root: Path, venv_path: Any, source: str, warnings: list[SpecError]) -> str:
    if venv_path:
        venv = (root / str(venv_path)).resolve()
        for candidate in (venv / "bin" / "python3", venv / "bin" / "python", venv / "Scripts" / "python.exe"):
            if candidate.exists():
                return str(candidate)
        warnings.append(SpecError(source, None, f"python.venv_path {venv_path!r}: no virtual environment there; "
                                                "using lakeloom's Python", severity="warning"))
    return sys.executable


def _has_package(python: str) -> bool:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('databricks.bundles') is None)"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _run_phase(python: str, phase: str, config: dict[str, Any], root: Path,
               source: str) -> tuple[dict[str, Any], dict[str, Loc], list[SpecError]]:
    with tempfile.TemporaryDirectory(prefix="lakeloom-pybundle-") as tmp:
        paths = {name: Path(tmp) / f"{name}.json" for name in ("input", "output", "diagnostics", "locations")}
        paths["input"].write_text(json.dumps(config, default=str), encoding="utf-8")
        args = [python, "-m", "databricks.bundles.build", "--phase", phase]
        for name, p in paths.items():
            args += [f"--{name}", str(p)]
        proc = subprocess.run(args, cwd=root, capture_output=True, text=True)
        problems = _diagnostics(paths["diagnostics"], root, source)
        if proc.returncode != 0 and not any(p.severity == "error" for p in problems):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            problems.append(SpecError(source, None, f"python {phase} failed: " + " | ".join(tail)))
        if any(p.severity == "error" for p in problems):
            raise JobSpecError(problems)
        output = json.loads(paths["output"].read_text(encoding="utf-8"))
        locations = _locations(paths["locations"], root)
    return output, locations, problems


def _diagnostics(path: Path, root: Path, source: str) -> list[SpecError]:
    out: list[SpecError] = []
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        loc = d.get("location") or {}
        file = str(root / loc["file"]) if loc.get("file") else source
        detail = str(d.get("detail") or "").strip()
        if "Traceback (most recent call last)" in detail:  # the exception itself, not the stack
            detail = detail.splitlines()[-1]
        message = d.get("summary", "") + (f": {detail}" if detail else "")
        out.append(SpecError(file, loc.get("line"), message, field=d.get("path"),
                             severity="warning" if d.get("severity") == "warning" else "error"))
    return out


def _locations(path: Path, root: Path) -> dict[str, Loc]:
    out: dict[str, Loc] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                out[d["path"]] = Loc(str((root / d["file"]).resolve()), int(d.get("line") or 1))
    return out


def _mark(node: Any, loc: Loc, locs: Locations) -> None:
    if isinstance(node, dict):
        locs.mark(node, loc)
        for k, v in node.items():
            locs.mark_entry(node, k, loc)
            _mark(v, loc, locs)
    elif isinstance(node, list):
        locs.mark(node, loc)
        for i, v in enumerate(node):
            locs.mark_entry(node, i, loc)
            _mark(v, loc, locs)


def _update_in_place(old: Any, new: Any, loc: Loc, locs: Locations) -> Any:
    """``new`` keeping ``old``'s containers (and so their file:line) where the structure is the same."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in [k for k in old if k not in new]:
            del old[k]
        for k, v in new.items():
            if k in old:
                old[k] = _update_in_place(old[k], v, loc, locs)
            else:
                old[k] = v
                _mark(v, loc, locs)
                locs.mark_entry(old, k, loc)
        return old
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, v in enumerate(new):
            old[i] = _update_in_place(old[i], v, loc, locs)
        return old
    if old == new:
        return old
    _mark(new, loc, locs)
    return new


def load_python_resources(config: dict[str, Any], locs: Locations, root: Path, source: str) -> list[SpecError]:
    """Add the resources the ``python`` section's functions define (and apply its mutators)
    to ``config``; returns warnings, raises :class:`JobSpecError` on errors."""
    conf = config.get("python") or {}
    warnings: list[SpecError] = []
    if not conf.get("resources") and not conf.get("mutators"):
        return warnings
    python = _interpreter(root, conf.get("venv_path"), source, warnings)
    if not _has_package(python):
        where = locs.of(config, "python")
        raise JobSpecError([SpecError(where.file if where else source, where.line if where else None,
                                      f"{INSTALL_HINT} ({python} cannot import databricks.bundles)",
                                      field="python")])
    phases = (["load_resources"] if conf.get("resources") else []) + (["apply_mutators"] if conf.get("mutators")
                                                                      else [])
    root_loc = Loc(str(root / "__generated_by_python__.yml"), 1)
    for phase in phases:
        payload = {k: v for k, v in config.items() if k != "targets"}
        output, locations, problems = _run_phase(python, phase, payload, root, source)
        warnings += problems
        before = config.get("resources") or {}
        after = output.get("resources") or {}
        for kind, entries in after.items():
            if not isinstance(entries, dict):
                continue
            existing = before.setdefault(kind, {}) if isinstance(before, dict) else {}
            for key, body in entries.items():
                if key in existing:
                    if phase == "apply_mutators" and body != existing[key]:
                        mutated = locations.get(f"resources.{kind}.{key}", root_loc)
                        existing[key] = _update_in_place(existing[key], body, mutated, locs)
                    continue
                loc = locations.get(f"resources.{kind}.{key}", root_loc)
                existing[key] = body
                _mark(body, loc, locs)
                locs.mark_entry(existing, key, loc)
                locs.relative_to_root.add(id(body))  # their relative paths start at the bundle folder
        config["resources"] = before
    return warnings
