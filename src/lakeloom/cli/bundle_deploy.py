"""What ``lakeloom bundle deploy``, ``run`` and ``destroy`` do to the workspace.

Deploy writes the resolved bundle under ``.lakeloom/bundles/<name>/<target>/``, creates its
``schemas`` and ``volumes`` in the catalog (Spark SQL: ``CREATE SCHEMA``/``CREATE VOLUME IF
NOT EXISTS``), hands resources lakeloom does not run to the plugins that own them
(``lakeloom_bundle_resource``; unclaimed ones are warned about by key) and records the jobs in
the store so ``lakeloom serve`` schedules them. Destroy undoes exactly what deploy recorded.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.bundle.resources import HANDED_TO_PLUGINS, LAKEBASE, not_deployed_reason
from lakeloom.bundle.state import deployed_jobs, map_back, read_deployed, state_dir, write_deployed
from lakeloom.spec.loader import JobSpecError, LoadedJob, SpecError

if TYPE_CHECKING:
    from lakeloom.bundle import Bundle
    from lakeloom.config import Workspace
    from lakeloom.engine.api import Engine
    from lakeloom.plugin_manager import LakeloomPluginManager


def _q(name: str) -> str:
    return "`" + str(name).replace("`", "``") + "`"


def checked_jobs(bundle: Bundle, ws: Workspace, pm: LakeloomPluginManager) -> tuple[dict[str, LoadedJob],
                                                                                   list[SpecError]]:
    """The bundle's jobs as they run (from ``resources.yml``) and every problem the engine finds,
    moved back to the bundle file and line that wrote it."""
    from lakeloom.engine.validate import validate_loaded

    jobs = deployed_jobs(bundle, state_dir(bundle, ws.state_dir))
    problems: list[SpecError] = []
    for key, loaded in jobs.items():
        problems += [map_back(p, bundle.jobs[key]) for p in validate_loaded(loaded, pm, ws)]
    for key, pipeline in bundle.pipelines.items():
        try:
            pipeline.library_files()
        except JobSpecError as e:
            problems += e.errors
    return jobs, problems + checked_plugin_resources(bundle, pm)


def checked_plugin_resources(bundle: Bundle, pm: LakeloomPluginManager) -> list[SpecError]:
    """What the owning plugins find wrong with the resources they deploy (dashboards, ...);
    a problem without a file of its own is placed on the resource's line of the bundle."""
    problems: list[SpecError] = []
    for kind in HANDED_TO_PLUGINS:
        for key, settings in (bundle.resources.get(kind) or {}).items():
            found = pm.hook.lakeloom_check_bundle_resource(kind=kind, key=str(key), settings=settings,
                                                           bundle_root=bundle.root)
            where = bundle.locs.of(bundle.resources[kind], key)
            for batch in found:
                for p in batch or []:
                    if not p.file:
                        p = SpecError(str(where.file) if where else str(bundle.root_file),
                                      where.line if where else None, p.message, p.task_key,
                                      f"resources.{kind}.{key}" + (f".{p.field}" if p.field else ""), p.severity)
                    problems.append(p)
    return problems


def cloud_only_resources(bundle: Bundle, pm: LakeloomPluginManager) -> list[SpecError]:
    """For ``bundle validate``: a warning on each Lakebase resource no plugin checks (so none
    deploys it), the one deploy prints when it leaves the resource out."""
    problems: list[SpecError] = []
    for kind in sorted(LAKEBASE):
        for key, settings in (bundle.resources.get(kind) or {}).items():
            if pm.hook.lakeloom_check_bundle_resource(kind=kind, key=str(key), settings=settings,
                                                      bundle_root=bundle.root):
                continue
            where = bundle.locs.of(bundle.resources[kind], key)
            problems.append(SpecError(str(where.file) if where else str(bundle.root_file), where.line if where else None,
                                      not_deployed_reason(kind), field=f"resources.{kind}.{key}", severity="warning"))
    return problems


def create_catalog_resources(bundle: Bundle, spark: Any) -> list[str]:
    """``CREATE SCHEMA``/``CREATE VOLUME IF NOT EXISTS`` for the bundle's schemas and volumes."""
    lines: list[str] = []
    resources = bundle.resources
    for key, schema in (resources.get("schemas") or {}).items():
        name = f"{_q(schema['catalog_name'])}.{_q(schema['name'])}"
        comment = f" COMMENT '{str(schema['comment']).replace(chr(39), chr(39) * 2)}'" if schema.get("comment") else ""
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {name}{comment}")
        lines.append(f"schema {schema['catalog_name']}.{schema['name']} (resources.schemas.{key})")
    for key, volume in (resources.get("volumes") or {}).items():
        name = ".".join(_q(volume[k]) for k in ("catalog_name", "schema_name", "name"))
        if str(volume.get("volume_type", "MANAGED")).upper() == "EXTERNAL":
            location = str(volume["storage_location"]).replace("'", "''")
            spark.sql(f"CREATE EXTERNAL VOLUME IF NOT EXISTS {name} LOCATION '{location}'")
        else:
            spark.sql(f"CREATE VOLUME IF NOT EXISTS {name}")
        lines.append(f"volume /Volumes/{volume['catalog_name']}/{volume['schema_name']}/{volume['name']} "
                     f"(resources.volumes.{key})")
    return lines


def _scopes_file(ws: Workspace) -> Path:
    from lakeloom.runtime.dbutils.secrets import BUNDLE_SCOPES_FILE

    return ws.state_dir / BUNDLE_SCOPES_FILE


def update_secret_scopes(ws: Workspace, add: list[str], remove: list[str]) -> None:
    """Create (empty) or delete the scopes ``dbutils.secrets`` sees from bundle deploys."""
    import yaml

    from lakeloom.bundle.state import atomic_write

    path = _scopes_file(ws)
    scopes: dict[str, Any] = {}
    if path.exists():
        scopes = dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    for name in add:
        scopes.setdefault(name, {})
    for name in remove:
        scopes.pop(name, None)
    atomic_write(path, yaml.safe_dump(scopes, sort_keys=True))


def hand_to_plugins(bundle: Bundle, ws: Workspace, pm: LakeloomPluginManager) -> tuple[list[str], list[str]]:
    """Offer each resource lakeloom does not run to the plugins; (taken, warnings)."""
    taken: list[str] = []
    warnings: list[str] = []
    for kind in HANDED_TO_PLUGINS:
        for key, settings in (bundle.resources.get(kind) or {}).items():
            where = bundle.locs.of(bundle.resources[kind], key)
            label = f"resources.{kind}.{key}"
            if pm.hook.lakeloom_bundle_resource(kind=kind, key=str(key), settings=settings,
                                                bundle_root=bundle.root, workspace=ws):
                taken.append(label)
            else:
                warnings.append(f"{where or bundle.root_file}: warning: {label}: {not_deployed_reason(kind)}")
    return taken, warnings


def remove_plugin_resources(labels: list[str], ws: Workspace, pm: LakeloomPluginManager) -> list[str]:
    """Ask the owning plugins to undo resources (``resources.<kind>.<key>`` labels) a deploy
    handed them; one line per resource."""
    lines = []
    for label in labels:
        _, kind, key = label.split(".", 2)
        if pm.hook.lakeloom_bundle_resource_removed(kind=kind, key=key, workspace=ws):
            lines.append(f"removed {label}")
        else:
            lines.append(f"warning: {label}: no installed plugin removes {kind}; left as it was")
    return lines


def _build_artifacts(bundle: Bundle) -> list[str]:
    """Build the bundle's ``artifacts``; a failed build is an error naming the artifact."""
    from lakeloom.runtime.environments.artifacts import ArtifactBuildError, build_artifact

    lines = []
    for name in sorted(bundle.artifacts):
        try:
            art = build_artifact(name, bundle.artifacts[name] or {}, bundle.root)
        except ArtifactBuildError as e:
            raise JobSpecError([SpecError(str(bundle.root_file), None, str(e), None, f"artifacts.{name}")]) from None
        lines.append(f"built artifact {name}: {', '.join(f.name for f in art.files)}")
    return lines


def deploy_bundle(bundle: Bundle, engine: Engine, *, record_jobs: bool = True) -> list[str]:
    """Deploy ``bundle`` into the engine's workspace; returns one line per thing done.
    Raises :class:`JobSpecError` (nothing deployed) when the bundle is invalid."""
    ws, pm = engine.workspace, engine.pm
    folder = state_dir(bundle, ws.state_dir)
    built = _build_artifacts(bundle)  # first, as the CLI does: libraries may name the wheels they make
    jobs, problems = checked_jobs(bundle, ws, pm)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise JobSpecError(errors)
    record = read_deployed(folder)
    lines = built + [p.format() for p in problems]
    if (bundle.resources.get("schemas") or bundle.resources.get("volumes")):
        lines += ["created " + line for line in create_catalog_resources(bundle, engine.spark())]
    record["schemas"] = [f"{s['catalog_name']}.{s['name']}" for s in (bundle.resources.get("schemas") or {}).values()]
    record["volumes"] = [".".join(str(v[k]) for k in ("catalog_name", "schema_name", "name"))
                         for v in (bundle.resources.get("volumes") or {}).values()]
    scopes = [str(s["name"]) for s in (bundle.resources.get("secret_scopes") or {}).values()]
    if scopes or record.get("secret_scopes"):
        update_secret_scopes(ws, scopes, [s for s in record.get("secret_scopes") or [] if s not in scopes])
        lines += [f"secret scope {name} (put secrets with LAKELOOM_SECRET_<SCOPE>__<KEY> or the secrets file)"
                  for name in scopes]
    record["secret_scopes"] = scopes
    taken, warnings = hand_to_plugins(bundle, ws, pm)
    lines += warnings + [f"handed {label} to its plugin" for label in taken]
    gone = [label for label in record.get("plugin_resources") or [] if label not in taken]
    lines += remove_plugin_resources(gone, ws, pm)
    record["plugin_resources"] = taken
    if record_jobs:
        ids: dict[str, int] = {}
        for key, loaded in jobs.items():
            settings = loaded.job.model_dump(mode="json", exclude_none=True, by_alias=True)
            ids[key] = engine.store.upsert_job(loaded.job.name, settings, str(loaded.source), key, deployed=True)
            lines.append(f"deployed job {loaded.job.name} (job_id {ids[key]}, resources.jobs.{key})")
        record["jobs"] = ids
    write_deployed(folder, record)
    return lines


def destroy_bundle(bundle_name: str, target: str, engine: Engine) -> list[str]:
    """Undeploy the jobs and drop the volumes and schemas a deploy of this bundle created."""
    folder = engine.workspace.state_dir / "bundles" / bundle_name / target
    record = read_deployed(folder)
    if not record and not folder.exists():
        return [f"nothing deployed for bundle {bundle_name!r}, target {target!r}"]
    lines: list[str] = []
    for key, job_id in (record.get("jobs") or {}).items():
        engine.store.update_job(int(job_id), deployed=False)
        lines.append(f"undeployed job resources.jobs.{key} (job_id {job_id})")
    if record.get("volumes") or record.get("schemas"):
        spark = engine.spark()
        for name in record.get("volumes") or []:
            spark.sql(f"DROP VOLUME IF EXISTS {'.'.join(_q(p) for p in name.split('.'))}")
            lines.append(f"dropped volume {name}")
        for name in record.get("schemas") or []:
            spark.sql(f"DROP SCHEMA IF EXISTS {'.'.join(_q(p) for p in name.split('.'))} CASCADE")
            lines.append(f"dropped schema {name}")
    lines += remove_plugin_resources(list(record.get("plugin_resources") or []), engine.workspace, engine.pm)
    if record.get("secret_scopes"):
        update_secret_scopes(engine.workspace, [], list(record["secret_scopes"]))
        lines += [f"deleted secret scope {name}" for name in record["secret_scopes"]]
    shutil.rmtree(folder, ignore_errors=True)
    lines.append(f"removed {Path(folder)}")
    return lines
