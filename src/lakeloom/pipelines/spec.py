"""Pipeline resources: the YAML model and the loaders (standalone or inside a bundle).

A pipeline is defined either in its own ``*.pipeline.yml`` (a bare mapping, or the
bundle shape) or under ``resources: {pipelines: {<key>: {...}}}`` of a bundle file next to
its jobs::

    resources:
      pipelines:
        retail_dlt:
          name: retail_dlt
          catalog: main
          schema: retail_dlt
          libraries: [{glob: {include: transformations/**}}, {file: {path: gold.sql}}]
          configuration: {landing: .lakeloom/volumes/main/retail/landing}

Loading never starts a JVM; errors name the file, the line and the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationError, field_validator, model_validator

from lakeloom.spec.loader import JobSpecError, LineMap, SpecError, _compose, validation_errors
from lakeloom.spec.models import Strict, _IgnoringDatabricksOnly
from lakeloom.spec.parameters import coerce_param_map

if TYPE_CHECKING:
    from lakeloom.config import Workspace

#: Databricks pipeline settings with no local meaning: accepted, ignored.
IGNORED_PIPELINE_FIELDS = frozenset({
    "clusters", "continuous", "channel", "edition", "photon", "serverless", "notifications",
    "budget_policy_id", "allow_duplicate_names", "deployment", "filters", "trigger", "id",
    "root_path", "permissions", "run_as", "tags", "gateway_definition",
    "ingestion_definition", "restart_window", "event_log",
})


class PipelineEnvironment(Strict):
    """``environment: {dependencies}``: pip requirement lines the pipeline's source imports."""

    dependencies: list[str] = Field(default_factory=list)


class GlobLibrary(Strict):
    include: str


class PathLibrary(Strict):
    path: str


class Library(Strict):
    """One entry of ``libraries``: exactly one of ``glob``, ``file``, ``notebook``."""

    glob: GlobLibrary | None = None
    file: PathLibrary | None = None
    notebook: PathLibrary | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Library:
        kinds = [k for k in ("glob", "file", "notebook") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a library needs exactly one of glob, file, notebook (got {kinds or 'none'})")
        return self


class PipelineSpec(_IgnoringDatabricksOnly):
    """The settings of one pipeline (Databricks pipeline settings, local subset)."""

    ignored_field_names: ClassVar[frozenset[str]] = IGNORED_PIPELINE_FIELDS

    #: Free text, as on Databricks (bundles in development mode prefix it with ``[dev user] ``).
    name: str = Field(min_length=1, max_length=256)
    catalog: str = "main"
    schema_: str = Field(default="default", alias="schema")
    libraries: list[Library] = Field(min_length=1)
    environment: PipelineEnvironment | None = None
    configuration: dict[str, str] = Field(default_factory=dict)
    storage: str | None = None
    development: bool = False

    @classmethod
    def _extra_key_ok(cls, key: str) -> bool:
        return key in ("schema", "target", "database")

    @model_validator(mode="before")
    @classmethod
    def _target_alias(cls, data: Any) -> Any:
        # Legacy pipelines name the schema `target`; Apache Spark's spark-pipeline.yml names it
        # `database` (which wins over `schema` there, as spark-pipelines reads it).
        if isinstance(data, dict) and "target" in data:
            data = dict(data)
            data.setdefault("schema", data.pop("target"))
        if isinstance(data, dict) and "database" in data:
            data = dict(data)
            data["schema"] = data.pop("database")
        return data

    @field_validator("configuration", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        return coerce_param_map(v)

    @property
    def schema_name(self) -> str:
        return self.schema_


@dataclass
class LoadedPipeline:
    """A parsed pipeline with where it came from."""

    spec: PipelineSpec
    source: Path
    key: str | None
    lines: LineMap

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    @property
    def label(self) -> str:
        return f"{self.source}" + (f" (pipeline {self.key!r})" if self.key else "")

    def storage_dir(self, workspace: Workspace) -> Path:
        """Checkpoints, Auto Loader schemas and the event log live here."""
        if self.spec.storage:
            try:  # dbfs:/ and /Volumes/ storage maps into the workspace like every other path
                return workspace.local_path(self.spec.storage)
            except ValueError as e:
                raise JobSpecError([SpecError(str(self.source), self.lines.line_of(("storage",)), f"storage: {e}",
                                              field="storage")]) from None
        return workspace.state_dir / "pipelines" / _folder_name(self.key or self.spec.name)

    def library_files(self) -> list[Path]:
        """Every source file, in declaration order (globs sorted). Raises JobSpecError if one is missing."""
        out: list[Path] = []
        errors: list[SpecError] = []
        for i, lib in enumerate(self.spec.libraries):
            line = self.lines.line_of(("libraries", i))
            if lib.glob is not None:
                pattern = lib.glob.include
                # A bundle makes the pattern absolute; Path.glob only takes relative ones.
                base = Path(Path(pattern).anchor) if Path(pattern).is_absolute() else self.base_dir
                relative = pattern[len(Path(pattern).anchor):] if base != self.base_dir else pattern
                matches = sorted(p for p in base.glob(relative)
                                 if p.is_file() and p.suffix in (".py", ".sql", ".ipynb"))
                if pattern.endswith("**"):
                    matches = sorted(p for p in base.glob(relative + "/*")
                                     if p.is_file() and p.suffix in (".py", ".sql", ".ipynb")) or matches
                if not matches:
                    errors.append(SpecError(str(self.source), line, f"glob {pattern!r} matches no .py or .sql file",
                                            field=f"libraries[{i}].glob.include"))
                out.extend(m.resolve() for m in matches if m.resolve() not in out)
                continue
            kind = "file" if lib.file is not None else "notebook"
            raw = (lib.file or lib.notebook).path  # type: ignore[union-attr]
            found = _find_source(self.base_dir, raw, notebook=kind == "notebook")
            if found is None:
                errors.append(SpecError(str(self.source), line, f"{kind} {raw!r} not found",
                                        field=f"libraries[{i}].{kind}.path"))
            elif found not in out:
                out.append(found)
        if errors:
            raise JobSpecError(errors)
        return out


def _folder_name(name: str) -> str:
    """A pipeline name or key as one folder name (names are free text)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("_") or "pipeline"


def _find_source(base: Path, raw: str, *, notebook: bool) -> Path | None:
    p = Path(raw)
    p = p if p.is_absolute() else base / p
    candidates = [p] + ([p.with_name(p.name + ext) for ext in (".py", ".sql", ".ipynb")] if notebook else [])
    return next((c.resolve() for c in candidates if c.is_file()), None)


def _pipeline_documents(data: Any, source: str, lines: LineMap) -> list[tuple[str | None, dict[str, Any], tuple]]:
    if not isinstance(data, dict):
        raise JobSpecError([SpecError(source, lines.line_of(()), "a pipeline file must be a mapping")])
    if "resources" in data:
        resources = data["resources"]
        pipelines = resources.get("pipelines") if isinstance(resources, dict) else None
        if pipelines is None:
            return []
        if not isinstance(pipelines, dict):
            raise JobSpecError([SpecError(source, lines.line_of(("resources", "pipelines")),
                                          "resources.pipelines must be a mapping", field="resources.pipelines")])
        docs = []
        for key, body in pipelines.items():
            if not isinstance(body, dict):
                raise JobSpecError([SpecError(source, lines.line_of(("resources", "pipelines", key)),
                                              f"pipeline {key!r} must be a mapping")])
            docs.append((str(key), {"name": str(key), **body}, ("resources", "pipelines", key)))
        return docs
    return [(None, data, ())]


def load_pipeline_documents(path: str | Path) -> list[LoadedPipeline]:
    """Every pipeline defined in a file (standalone or bundle). Raises JobSpecError."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise JobSpecError([SpecError(str(path), None, f"cannot read pipeline file: {e.strerror or e}")]) from None
    data, lines = _compose(text, str(path))
    if data is None:
        raise JobSpecError([SpecError(str(path), 1, "the pipeline file is empty")])
    out, errors = [], []
    for key, body, prefix in _pipeline_documents(data, str(path), lines):
        try:
            spec = PipelineSpec.model_validate(body)
        except ValidationError as e:
            errors.extend(validation_errors(e, str(path), body, lines, prefix))
            continue
        sub = LineMap({k[len(prefix):]: v for k, v in lines.lines.items() if k[:len(prefix)] == prefix})
        out.append(LoadedPipeline(spec, p.resolve(), key, sub))
    if errors:
        raise JobSpecError(errors)
    return out


#: The spec files Apache Spark's ``spark-pipelines`` looks for when it is given none.
SPARK_PIPELINE_SPEC_FILES = ("spark-pipeline.yaml", "spark-pipeline.yml")


def find_spark_pipeline_spec(start: Path) -> Path:
    """The ``spark-pipeline.yaml`` (or ``.yml``) of ``start`` or its nearest ancestor that has
    one, as ``spark-pipelines run`` finds it without ``--spec``; JobSpecError when there is none
    or a folder has both."""
    for folder in (start, *start.parents):
        found = [folder / n for n in SPARK_PIPELINE_SPEC_FILES if (folder / n).is_file()]
        if len(found) > 1:
            raise JobSpecError([SpecError(str(folder), None, "both spark-pipeline.yaml and spark-pipeline.yml "
                                                             "are here: name the one to run")])
        if found:
            return found[0]
    raise JobSpecError([SpecError(str(start), None, "no pipeline given, and no spark-pipeline.yaml or "
                                                    "spark-pipeline.yml in this folder or above it")])


def load_pipeline(ref: str | Path, *, base_dir: Path | None = None,
                  workspace: Workspace | None = None) -> LoadedPipeline:
    """A pipeline by path (``x.pipeline.yml``, or ``bundle.yml`` with one pipeline), by
    ``path:key``, or by key/name among the YAML files of ``base_dir`` and the workspace's
    ``pipelines/*`` folders."""
    text = str(ref)
    base = base_dir or Path.cwd()
    file_part, _, key = text.partition("::") if "::" in text else (text, "", "")
    path = Path(file_part)
    if not path.is_absolute():
        path = base / path
    if path.suffix in (".yml", ".yaml") or path.is_file():
        if not path.is_file():
            raise JobSpecError([SpecError(text, None, "pipeline file not found")])
        docs = load_pipeline_documents(path)
        if key:
            docs = [d for d in docs if key in (d.key, d.spec.name)]
        if len(docs) != 1:
            names = ", ".join(str(d.key or d.spec.name) for d in load_pipeline_documents(path)) or "none"
            raise JobSpecError([SpecError(str(path), None,
                                          f"expected one pipeline{' named ' + repr(key) if key else ''}, "
                                          f"found {len(docs)} (pipelines: {names})")])
        return docs[0]
    matches = [d for d in candidate_pipelines(base, workspace) if text in (d.key, d.spec.name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        where = ", ".join(str(m.source) for m in matches)
        raise JobSpecError([SpecError(text, None, f"several pipelines are named {text!r}: {where}")])
    raise JobSpecError([SpecError(text, None, f"no pipeline file or pipeline named {text!r} "
                                              f"in {base} or the workspace's pipelines/ folders")])


def candidate_pipelines(base: Path, workspace: Workspace | None = None) -> list[LoadedPipeline]:
    """Pipelines defined in YAML files of ``base`` (and its parent, for ``jobs/`` folders) and the
    workspace's ``pipelines/*/`` trees. Files that fail to parse are skipped."""
    files: list[Path] = []
    roots = [base, base.parent] + ([workspace.root / "pipelines"] if workspace else [])
    for root in roots:
        if not root.is_dir():
            continue
        pattern = "*/**/*.y*ml" if root == (workspace.root / "pipelines" if workspace else None) else "*.y*ml"
        for f in sorted(root.glob(pattern)):
            if f.resolve() not in files:
                files.append(f.resolve())
    out: list[LoadedPipeline] = []
    seen: set[tuple[Path, str | None]] = set()
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if "pipelines" not in text and not f.name.endswith((".pipeline.yml", ".pipeline.yaml")):
            continue
        try:
            for d in load_pipeline_documents(f):
                if (d.source, d.key) not in seen:
                    seen.add((d.source, d.key))
                    out.append(d)
        except JobSpecError:
            continue
    return out
