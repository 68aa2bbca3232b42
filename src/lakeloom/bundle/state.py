"""A resolved bundle written where lakeloom runs it from: ``.lakeloom/bundles/<name>/<target>/``.

``resources.yml`` there holds the resolved ``bundle``, ``artifacts`` and ``resources`` (every
local path absolute), so a job run from it, a job scheduled by ``lakeloom serve`` after a
deploy, and a ``run_job_task``/``pipeline_task`` naming ``${resources.<type>.<key>.id}`` all see
the same resolved settings. ``deployed.json`` records what deploy created (schemas, volumes,
secret scopes, job ids) so ``destroy`` removes exactly that.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lakeloom.spec.loader import JobSpecError, LoadedJob, SpecError, load_job_documents

if TYPE_CHECKING:
    from lakeloom.bundle.bundle import Bundle

RESOLVED_FILE = "resources.yml"
DEPLOYED_FILE = "deployed.json"


def state_dir(bundle: Bundle, workspace_state_dir: Path) -> Path:
    """The folder of this bundle and target under the workspace's ``.lakeloom``."""
    return workspace_state_dir / "bundles" / bundle.name / bundle.target


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_resolved(bundle: Bundle, folder: Path) -> Path:
    """Write ``resources.yml`` (atomically: a half-written file is never read)."""
    doc = {
        "bundle": {"name": bundle.name, "target": bundle.target, "mode": bundle.mode,
                   "local_root": str(bundle.root)},
        "variables": {k: v.get("value") for k, v in (bundle.config.get("variables") or {}).items()
                      if isinstance(v, dict)},
        "artifacts": bundle.artifacts,
        "resources": bundle.resources,
    }
    path = folder / RESOLVED_FILE
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: the Python one dominated validate
    atomic_write(path, yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True))
    return path


def deployed_jobs(bundle: Bundle, folder: Path) -> dict[str, LoadedJob]:
    """The bundle's jobs as loaded from its ``resources.yml`` (written first)."""
    path = write_resolved(bundle, folder)
    if not bundle.jobs:
        return {}
    return {str(d.key): d for d in load_job_documents(path)}


def map_back(error: SpecError, original: LoadedJob) -> SpecError:
    """An error found on a job of ``resources.yml``, moved to where ``original`` wrote it."""
    if error.file != str(original.source) and not error.file.endswith(RESOLVED_FILE):
        return error
    parts: list[Any] = [int(p) if p.isdigit() else p
                        for p in (error.field or "").replace("[", ".").replace("]", "").split(".") if p]
    line = original.task_line(error.task_key, *parts) if error.task_key else original.line_of(*parts)
    return SpecError(str(original.source), line, error.message, error.task_key, error.field, error.severity)


def read_deployed(folder: Path) -> dict[str, Any]:
    path = folder / DEPLOYED_FILE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as e:
        raise JobSpecError([SpecError(str(path), None, f"unreadable deployment state: {e}")]) from None


def write_deployed(folder: Path, record: dict[str, Any]) -> None:
    atomic_write(folder / DEPLOYED_FILE, json.dumps(record, indent=2, sort_keys=True))
