"""Bundle resources: the fields references can read, and jobs and pipelines as lakeloom models.

``${resources.<type>.<key>.<field>}`` reads any field the (resolved) resource has. Fields a
workspace would assign on deploy are computed locally: a schema's ``id`` is
``<catalog_name>.<name>``, a volume's and a registered model's ``<catalog>.<schema>.<name>``,
an experiment's, secret scope's and serving endpoint's their name, a dashboard's its key.
``${resources.jobs.<key>.id}`` in ``run_job_task.job_id`` and ``${resources.pipelines.<key>.id}``
in ``pipeline_task.pipeline_id`` stay references (the engine resolves them against the deployed
bundle); elsewhere a job's or pipeline's ``id`` is its key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lakeloom.bundle.interpolate import Missing, Path_, Resolver, parse_path
from lakeloom.bundle.yamlreader import Locations
from lakeloom.spec.loader import LineMap, LoadedJob, SpecError
from lakeloom.spec.models import Job
from lakeloom.spec.parameters import coerce_param

#: Resource types lakeloom runs itself, and the ones it hands to plugins.
RUN_HERE = ("jobs", "pipelines", "schemas", "volumes", "secret_scopes")
HANDED_TO_PLUGINS = ("dashboards", "registered_models", "experiments", "model_serving_endpoints", "models",
                     "quality_monitors", "clusters", "apps", "alerts", "sql_warehouses", "genie_spaces",
                     "database_instances", "database_catalogs", "synced_database_tables", "postgres_projects",
                     "postgres_branches", "postgres_endpoints", "postgres_catalogs", "postgres_databases",
                     "postgres_roles", "postgres_synced_tables")
#: Lakebase (managed PostgreSQL) resources: they need a Databricks workspace.
LAKEBASE = frozenset({"database_instances", "database_catalogs", "synced_database_tables", "postgres_projects",
                      "postgres_branches", "postgres_endpoints", "postgres_catalogs", "postgres_databases",
                      "postgres_roles", "postgres_synced_tables"})


def not_deployed_reason(kind: str) -> str:
    """Why a resource of ``kind`` that no plugin took is not deployed (for deploy and validate)."""
    if kind in LAKEBASE:
        return (f"Lakebase ({kind}) is a managed PostgreSQL service of a Databricks workspace, which lakeloom "
                "does not have: it is not deployed (no database or catalog is created; jobs that connect "
                "to it will fail)")
    if kind == "clusters":
        return ("no installed plugin deploys clusters; it is not started (tasks that name it as their existing "
                "cluster run on an entry of compute.clusters in conf/lakeloom.yml with its key, else on the run's "
                "Spark session)")
    if kind == "sql_warehouses":
        return ("no installed plugin deploys sql_warehouses; it is not started (warehouse ids are ignored: the "
                "run's Spark session runs the SQL)")
    return f"no installed plugin deploys {kind}; it is not deployed (jobs that need it will fail)"


def _computed_id(kind: str, key: str, entry: dict[str, Any]) -> Any:
    if kind in ("jobs", "pipelines", "dashboards", "genie_spaces", "alerts", "apps"):
        return key
    if kind == "schemas":
        return f"{entry.get('catalog_name')}.{entry.get('name', key)}"
    if kind in ("volumes", "registered_models"):
        return f"{entry.get('catalog_name')}.{entry.get('schema_name')}.{entry.get('name', key)}"
    return entry.get("name", key)


#: Id fields that only the deployed object has (the CLI resolves them from its remote state):
#: bundle-examples' app_with_genie_space names ``${resources.genie_spaces.<key>.space_id}``.
_REMOTE_IDS = {("genie_spaces", "space_id"), ("dashboards", "dashboard_id")}


def virtual_field(path: Path_, resolver: Resolver) -> Any:
    """Fields of ``resources.<type>.<key>`` a workspace assigns on deploy (see module doc)."""
    if len(path) != 4 or path[0] != "resources":
        return None
    kind, key, field = path[1], path[2], path[3]
    try:
        entry = resolver.lookup(("resources", kind, key))
    except Missing:
        return None
    if not isinstance(entry, dict):
        return None
    if field in ("id", "endpoint_id", "scope_id", "full_name") or (kind, field) in _REMOTE_IDS:
        return _computed_id(kind, str(key), entry)
    if field == "name" and kind in ("jobs", "pipelines", "secret_scopes", "schemas", "volumes"):
        return key
    return None


_KEPT = {("run_job_task", "job_id"): "jobs", ("pipeline_task", "pipeline_id"): "pipelines"}


def keep_engine_reference(config: dict[str, Any]) -> Any:
    """A ``keep`` predicate for :class:`Resolver`: job and pipeline id references of tasks whose
    resource exists stay as written."""

    def keep(path: Path_, ref: str) -> bool:
        kind = _KEPT.get(tuple(path[-2:]))
        target = parse_path(ref)
        if kind is None or len(target) != 4 or target[:2] != ("resources", kind) or target[3] != "id":
            return False
        return target[2] in ((config.get("resources") or {}).get(kind) or {})

    return keep


def line_map(node: Any, locs: Locations) -> LineMap:
    """File lines of every mapping key and sequence item under ``node`` (paths relative to it)."""
    lines = LineMap()

    def walk(n: Any, path: tuple[Any, ...]) -> None:
        own = locs.of(n)
        if own:
            lines.lines.setdefault(path, own.line)
        items = n.items() if isinstance(n, dict) else enumerate(n) if isinstance(n, list) else ()
        for k, v in items:
            where = locs.of(n, k)
            if where:
                lines.lines[path + (k,)] = where.line
            walk(v, path + (k,))

    walk(node, ())
    return lines


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _error_loc(err: Any) -> tuple[Any, ...]:
    """A pydantic error's location without its validator steps (``function-after[...]``)."""
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def _task_of(body: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str | None, tuple[Any, ...]]:
    """The task key a location inside ``tasks[i]`` belongs to, and the location within the task."""
    tasks = body.get("tasks")
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int) and isinstance(tasks, list) \
            and loc[1] < len(tasks) and isinstance(tasks[loc[1]], dict):
        return tasks[loc[1]].get("task_key"), loc[2:]
    return None, loc


def _model_errors(e: ValidationError, body: dict[str, Any], locs: Locations, source: str,
                  label: str) -> list[SpecError]:
    errors = []
    for err in e.errors():
        loc = _error_loc(err)
        where = locs.at(body, loc)
        task_key, field_loc = _task_of(body, loc)
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        errors.append(SpecError(where.file if where else source, where.line if where else None,
                                f"{label}: {msg}" if not task_key else msg, task_key, _field_name(field_loc) or None))
    return errors


def _drop_unknown_fields(e: ValidationError, body: dict[str, Any], locs: Locations, source: str,
                         label: str) -> list[SpecError]:
    """Remove the fields no model knows from ``body`` and return a warning for each, as the
    Databricks CLI's normalisation does ("unknown field: x" with the file and line, and the field
    is not deployed): a bundle with a stray or misplaced key deploys there, so it runs here."""
    warnings = []
    for err in e.errors():
        if err["type"] != "extra_forbidden":
            continue
        loc = _error_loc(err)
        parent: Any = body
        try:
            for part in loc[:-1]:
                parent = parent[part]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, dict) or loc[-1] not in parent:
            continue
        where = locs.at(body, loc)
        task_key, field_loc = _task_of(body, loc)
        del parent[loc[-1]]
        message = f"unknown field: {loc[-1]}" if task_key else f"{label}: unknown field: {loc[-1]}"
        warnings.append(SpecError(where.file if where else source, where.line if where else None, message,
                                  task_key, _field_name(field_loc) or None, severity="warning"))
    return warnings


def validate_normalized(model: Any, body: dict[str, Any]) -> Any:
    """``model.model_validate(body)``, first turning numbers and booleans where the model wants a
    string into strings (in place), as the CLI's typed normalisation does: ``${var.n}`` with
    ``n: 4`` in a ``parameters`` list is the string ``"4"`` there."""
    for _ in range(20):
        try:
            return model.model_validate(body)
        except ValidationError as e:
            fixed = False
            for err in e.errors():
                if err["type"] != "string_type" or not isinstance(err.get("input"), (int, float, bool)):
                    continue
                node: Any = body
                loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
                try:
                    for part in loc[:-1]:
                        node = node[part]
                    node[loc[-1]] = coerce_param(node[loc[-1]])
                    fixed = True
                except (KeyError, IndexError, TypeError):
                    continue
            if not fixed:
                raise
    return model.model_validate(body)


#: Jobs API fields that are strings (or lists/maps of strings), where a bundle often writes a
#: number or boolean through a variable; they are turned into strings before validation.
_STRING_FIELDS = ("parameters", "base_parameters", "named_parameters", "job_parameters", "python_params",
                  "jar_params", "notebook_params", "inputs", "left", "right")


def normalize_strings(job: dict[str, Any]) -> None:
    """Numbers and booleans in the job's string-typed task and parameter fields become strings."""
    def fix(container: Any, key: Any) -> None:
        value = container[key]
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, (dict, list)):
                    value[i] = coerce_param(item)
        elif isinstance(value, dict):
            for k, item in value.items():
                if not isinstance(item, (dict, list)):
                    value[k] = coerce_param(item)
        else:
            container[key] = coerce_param(value)

    def task(t: Any) -> None:
        if not isinstance(t, dict):
            return
        for section, settings in t.items():
            if section.endswith("_task") and isinstance(settings, dict):
                for name in _STRING_FIELDS:
                    if name in settings and settings[name] is not None:
                        fix(settings, name)
                task(settings.get("task"))

    for t in job.get("tasks") or []:
        task(t)
    for p in job.get("parameters") or []:
        if isinstance(p, dict) and p.get("default") is not None:
            fix(p, "default")
    if isinstance(job.get("tags"), dict):
        fix(job, "tags")


def _validated(model: Any, body: dict[str, Any], locs: Locations, file: str, label: str,
               errors: list[SpecError]) -> Any:
    """``body`` as ``model``, or None with its problems added to ``errors``. Unknown fields are
    warned about and dropped first (:func:`_drop_unknown_fields`), so only the rest fail."""
    try:
        return validate_normalized(model, body)
    except ValidationError as e:
        dropped = _drop_unknown_fields(e, body, locs, file, label)
        errors.extend(dropped)
        try:
            if not dropped:
                raise
            return validate_normalized(model, body)
        except ValidationError as again:
            errors.extend(_model_errors(again, body, locs, file, label))
            return None


def build_jobs(config: dict[str, Any], locs: Locations, source: str,
               bundle_root: Path) -> tuple[dict[str, LoadedJob], list[SpecError]]:
    """Every ``resources.jobs`` entry as a validated :class:`LoadedJob` (source: its file)."""
    jobs = (config.get("resources") or {}).get("jobs") or {}
    out: dict[str, LoadedJob] = {}
    errors: list[SpecError] = []
    for key, body in jobs.items():
        where = locs.of(jobs, key)
        file = where.file if where else source
        if not isinstance(body, dict):
            errors.append(SpecError(file, where.line if where else None, f"job {key!r} must be a mapping"))
            continue
        if not body.get("tasks"):
            # The CLI validates and deploys a job without tasks; there is nothing here to run.
            errors.append(SpecError(file, where.line if where else None,
                                    f"job {key!r} has no tasks: it is not deployed", severity="warning"))
            continue
        body.setdefault("name", key)
        normalize_strings(body)
        job = _validated(Job, body, locs, file, f"job {key!r}", errors)
        if job is None:
            continue
        loaded = LoadedJob(job, Path(file).resolve(), str(key), line_map(body, locs))
        loaded.bundle_root = bundle_root
        out[str(key)] = loaded
    return out, errors


def build_pipelines(config: dict[str, Any], locs: Locations, source: str) -> tuple[dict[str, Any], list[SpecError]]:
    """Every ``resources.pipelines`` entry as a validated ``LoadedPipeline``."""
    from lakeloom.pipelines.spec import LoadedPipeline, PipelineSpec

    pipelines = (config.get("resources") or {}).get("pipelines") or {}
    out: dict[str, Any] = {}
    errors: list[SpecError] = []
    for key, body in pipelines.items():
        where = locs.of(pipelines, key)
        file = where.file if where else source
        if not isinstance(body, dict):
            errors.append(SpecError(file, where.line if where else None, f"pipeline {key!r} must be a mapping"))
            continue
        if not body.get("libraries"):
            # The CLI deploys a pipeline without source code (its editor creates them); no update can run.
            errors.append(SpecError(file, where.line if where else None,
                                    f"pipeline {key!r} has no libraries: it is not deployed", severity="warning"))
            continue
        body.setdefault("name", key)
        spec = _validated(PipelineSpec, body, locs, file, f"pipeline {key!r}", errors)
        if spec is None:
            continue
        out[str(key)] = LoadedPipeline(spec, Path(file).resolve(), str(key), line_map(body, locs))
    return out, errors


_REQUIRED = {
    "schemas": ("catalog_name", "name"),
    "volumes": ("catalog_name", "schema_name", "name"),
    "secret_scopes": ("name",),
}


def check_catalog_resources(config: dict[str, Any], locs: Locations, source: str) -> list[SpecError]:
    """Schemas, volumes and secret scopes name what they need (deploy creates them)."""
    errors: list[SpecError] = []
    resources = config.get("resources") or {}
    for kind, required in _REQUIRED.items():
        entries = resources.get(kind) or {}
        for key, body in entries.items():
            where = locs.of(entries, key)
            file, line = (where.file, where.line) if where else (source, None)
            if not isinstance(body, dict):
                errors.append(SpecError(file, line, f"{kind[:-1].replace('_', ' ')} {key!r} must be a mapping"))
                continue
            if kind != "secret_scopes":
                body.setdefault("name", key)
            for name in required:
                if not body.get(name):
                    errors.append(SpecError(file, line, f"{kind}.{key}: missing required field {name!r}",
                                            field=f"resources.{kind}.{key}.{name}"))
            if kind == "volumes" and str(body.get("volume_type", "MANAGED")).upper() == "EXTERNAL" \
                    and not body.get("storage_location"):
                errors.append(SpecError(file, line, f"volumes.{key}: an EXTERNAL volume needs storage_location",
                                        field=f"resources.volumes.{key}.storage_location"))
    return errors
