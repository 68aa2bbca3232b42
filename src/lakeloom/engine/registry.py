"""Finding jobs: by file path, by name in the workspace's job files, from installed
pipeline packages (``lakeloom_jobs``), or by id in the store."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom.bundle.loader import ROOT_FILE_NAMES
from lakeloom.engine.prepare import stored_loaded_job
from lakeloom.spec.loader import JobSpecError, LineMap, LoadedJob, SpecError, load_job_documents, load_job_file
from lakeloom.spec.models import Job

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_manager import LakeloomPluginManager
    from lakeloom.store.store import RunStore


def workspace_jobs(workspace: Workspace, pm: LakeloomPluginManager) -> list[tuple[LoadedJob | None, str, str]]:
    """Every job the workspace and installed packages provide: (job or None, source, error)."""
    found: list[tuple[LoadedJob | None, str, str]] = []
    seen: set[Path] = set()
    for path in workspace.job_paths:
        seen.add(path.resolve())
        try:
            for d in load_job_documents(path):
                found.append((d, str(path), ""))
        except JobSpecError as e:
            found.append((None, str(path), str(e)))
    for items in pm.hook.lakeloom_jobs(workspace=workspace):
        for item in items or []:
            if isinstance(item, LoadedJob):
                if item.source.resolve() not in seen:
                    found.append((item, str(item.source), ""))
                continue
            job, source = item
            found.append((LoadedJob(job, Path(source).resolve(), None, LineMap()), str(source), ""))
    return found


def resolve_job(target: str | Path | LoadedJob | Job, workspace: Workspace, pm: LakeloomPluginManager,
                *, job_key: str | None = None, store: RunStore | None = None,
                base_dir: Path | None = None) -> LoadedJob:
    """A job from a file path, a job name, a ``job_id`` (int or digits), or a model."""
    if isinstance(target, LoadedJob):
        return target
    if isinstance(target, Job):
        return LoadedJob(target, (base_dir or workspace.root) / "<inline>", None, LineMap())
    text = str(target)
    path = Path(text)
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    if path.suffix in (".yml", ".yaml", ".json") or path.exists():
        if not path.exists():
            raise JobSpecError([SpecError(text, None, "job file not found")])
        if path.name in ROOT_FILE_NAMES:
            return bundle_job(path, job_key, workspace)
        return load_job_file(path, job_key)
    if store is not None and text.isdigit():
        stored = store.get_job(int(text))
        if stored is not None:
            return stored_loaded_job(stored, workspace.root)
    matches = [d for d, _, _ in workspace_jobs(workspace, pm)
               if d is not None and (d.job.name == text or d.key == text)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        where = ", ".join(str(m.source) for m in matches)
        raise JobSpecError([SpecError(text, None, f"several jobs are named {text!r}: {where}")])
    if store is not None:
        stored_jobs = store.find_jobs(text)
        if stored_jobs:
            return stored_loaded_job(stored_jobs[-1], workspace.root)
    raise JobSpecError([SpecError(text, None, "no job file or job with that name (see `lakeloom jobs list`)")])


def bundle_job(root_file: Path, job_key: str | None, workspace: Workspace) -> LoadedJob:
    """A job of the Databricks Asset Bundle whose root file is ``root_file`` (default target),
    resolved and written under the workspace's ``.lakeloom/bundles/`` like ``lakeloom bundle run``."""
    from lakeloom.bundle import load_bundle
    from lakeloom.bundle.state import deployed_jobs, state_dir

    bundle = load_bundle(root_file)
    if job_key is None:
        if len(bundle.jobs) != 1:
            raise JobSpecError([SpecError(str(root_file), None, f"the bundle defines {len(bundle.jobs)} jobs "
                                          f"({', '.join(bundle.jobs) or 'none'}); choose one with --job KEY")])
        job_key = next(iter(bundle.jobs))
    key = str(bundle.job(job_key).key)
    return deployed_jobs(bundle, state_dir(bundle, workspace.state_dir))[key]
