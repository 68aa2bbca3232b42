"""Loading a Databricks Asset Bundle into resolved lakeloom jobs and pipelines.

The phases follow ``databricks bundle validate``: read the root file and its includes, pick
and merge the target, give every variable its value, load Python-defined resources, resolve
``${bundle.*}``, ``${workspace.*}`` and ``${var.*}``, apply ``mode: development`` and
``presets``, resolve ``${resources.*}``, make local paths absolute, then validate jobs,
pipelines and the catalog resources. Nothing starts a JVM.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.bundle.interpolate import KNOWN_ROOTS, Resolver
from lakeloom.bundle.loader import load_raw_bundle
from lakeloom.bundle.paths import PathTranslator
from lakeloom.bundle.presets import apply_presets, git_details, override_compute, populate
from lakeloom.bundle.resources import (
    build_jobs, build_pipelines, check_catalog_resources, keep_engine_reference, virtual_field,
)
from lakeloom.bundle.settings import check_settings
from lakeloom.bundle.targets import apply_target, select_target
from lakeloom.bundle.variables import assign_values
from lakeloom.bundle.yamlreader import Locations
from lakeloom.spec.loader import JobSpecError, LoadedJob, SpecError

if TYPE_CHECKING:
    from lakeloom.pipelines.spec import LoadedPipeline

CONFIG_ROOTS = frozenset({"bundle", "workspace", "variables", "var", "artifacts"})


@dataclass
class Bundle:
    """A resolved bundle for one target."""

    root: Path
    root_file: Path
    target: str
    config: dict[str, Any]
    locs: Locations
    files: list[Path]
    jobs: dict[str, LoadedJob] = field(default_factory=dict)
    pipelines: dict[str, LoadedPipeline] = field(default_factory=dict)
    warnings: list[SpecError] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.config["bundle"]["name"])

    @property
    def mode(self) -> str | None:
        return self.config["bundle"].get("mode")

    @property
    def state_dir(self) -> Path:
        """Where deploy keeps the resolved resources (``workspace.state_path``)."""
        return Path(str(self.config["workspace"]["state_path"]))

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.config.get("resources") or {})

    @property
    def artifacts(self) -> dict[str, Any]:
        """``artifacts`` with ``path`` (absolute, default: the bundle folder) on each."""
        return dict(self.config.get("artifacts") or {})

    def resource_key(self, key: str) -> str:
        """``key`` as a job or pipeline key: as ``databricks bundle run`` does, a key that names
        no resource may name one with its type, ``jobs.<key>`` or ``pipelines.<key>``."""
        if key in self.jobs or key in self.pipelines:
            return key
        kind, _, rest = key.partition(".")
        if (kind == "jobs" and rest in self.jobs) or (kind == "pipelines" and rest in self.pipelines):
            return rest
        return key

    def job(self, key: str) -> LoadedJob:
        """A job by key (or by its name); raises with the keys there are."""
        if key in self.jobs:
            return self.jobs[key]
        by_name = [j for j in self.jobs.values() if j.job.name == key]
        if len(by_name) == 1:
            return by_name[0]
        kinds = [kind for kind, entries in self.resources.items()
                 if kind not in ("jobs", "pipelines") and isinstance(entries, dict) and key in entries]
        if kinds:
            where = self.locs.of(self.resources[kinds[0]], key)
            what = f"resources.{kinds[0]}.{key} is not a job or pipeline: lakeloom bundle run runs jobs and " \
                   "pipeline updates"
            raise JobSpecError([SpecError(str(where.file) if where else str(self.root_file),
                                          where.line if where else None,
                                          f"{what} (jobs: {', '.join(self.jobs) or 'none'}; pipelines: "
                                          f"{', '.join(self.pipelines) or 'none'})", field=f"resources.{kinds[0]}.{key}")])
        raise JobSpecError([SpecError(str(self.root_file), None, f"no job or pipeline with key {key!r} in bundle "
                                      f"{self.name!r} (jobs: {', '.join(self.jobs) or 'none'}; pipelines: "
                                      f"{', '.join(self.pipelines) or 'none'})")])


class _GitDetails:
    """``${bundle.git.*}`` answered from the repository, asked only when referenced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.details: dict[str, str] | None = None

    def field(self, path: tuple[Any, ...], resolver: Any) -> Any:
        if len(path) != 3 or path[:2] != ("bundle", "git"):
            return None
        if self.details is None:
            self.details = git_details(self.root)
        return self.details.get(str(path[2]))


def _resolve(config: dict[str, Any], locs: Locations, source: str, roots: frozenset[str],
             **kwargs: Any) -> list[SpecError]:
    resolver = Resolver(config, locs, source, roots, **kwargs)
    errors: list[SpecError] = []
    for key in [k for k in config if k != "targets"]:
        try:
            resolver.run((key,))
        except JobSpecError as e:
            errors.extend(e.errors)
        resolver.errors = []
    return errors


def _unique(errors: list[SpecError]) -> list[SpecError]:
    seen, out = set(), []
    for e in errors:
        if (e.file, e.line, e.message) not in seen:
            seen.add((e.file, e.line, e.message))
            out.append(e)
    return out


def load_bundle(start: str | Path = ".", *, target: str | None = None,
                variables: dict[str, str] | None = None) -> Bundle:
    """Load and resolve the bundle at ``start`` (its folder or root file) for ``target``.

    Raises :class:`JobSpecError` listing every problem with file and line; warnings (unknown
    fields, ``lookup`` variables answered by their default) are on ``Bundle.warnings``.
    """
    raw = load_raw_bundle(start)
    config, locs, source = raw.config, raw.locs, str(raw.root_file)
    warnings = list(raw.warnings)
    name = select_target(config, locs, source, target)
    warnings += apply_target(config, locs, source, name)
    populate(config, raw.root, name)
    warnings += assign_values(config, locs, source, raw.root, name, dict(variables or {}))
    if config.get("python"):
        from lakeloom.bundle.python_resources import load_python_resources

        warnings += load_python_resources(config, locs, raw.root, source)
    git = _GitDetails(raw.root)
    errors = _resolve(config, locs, source, CONFIG_ROOTS, virtual=git.field)
    errors += apply_presets(config, locs, source)
    errors += override_compute(config, locs, source)
    errors += _resolve(config, locs, source, KNOWN_ROOTS, virtual=lambda p, r: git.field(p, r) or virtual_field(p, r),
                       keep=keep_engine_reference(config))
    PathTranslator(locs, raw.root).translate(config)
    for artifact in (config.get("artifacts") or {}).values():
        if isinstance(artifact, dict):
            artifact.setdefault("path", str(raw.root))
    errors += check_settings(config, locs, source)
    errors += check_catalog_resources(config, locs, source)
    jobs, job_errors = build_jobs(config, locs, source, raw.root)
    pipelines, pipeline_errors = build_pipelines(config, locs, source)
    errors += job_errors + pipeline_errors
    hard = [e for e in errors if e.severity == "error"]
    warnings += [e for e in errors if e.severity != "error"]
    if hard:
        raise JobSpecError(_unique(hard))
    return Bundle(raw.root, raw.root_file, name, config, locs, raw.files, jobs, pipelines, warnings)
