"""The ``bundle`` and ``workspace`` sections lakeloom fills in, and what ``mode: development``
and ``presets`` do to resources (``apply_target_mode.go``, ``apply_presets.go``).

Locally the bundle's files are not synced anywhere: ``workspace.file_path`` is the bundle's
own folder (so ``--editable ${workspace.file_path}`` and notebook paths work), and
``workspace.root_path`` defaults to ``.lakeloom/bundles/<name>/<target>`` of the bundle folder,
where deploy keeps its state. The current user is ``LAKELOOM_USER_NAME`` or the login name.
"""
from __future__ import annotations

import getpass
import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from lakeloom.bundle.yamlreader import Locations
from lakeloom.spec.loader import SpecError


def normalize(name: str) -> str:
    """The CLI's ``textutil.NormalizeString``: lower case, runs of non-alphanumerics -> ``_``."""
    s = re.sub(r"[^\w]|_", "_", name.lower())
    return re.sub(r"_+", "_", s).strip("_")


def domain_friendly(short_name: str) -> str:
    """The CLI's ``GetShortUserDomainFriendlyName``: the short name with accents dropped and every
    other non-alphanumeric character a ``-`` (for names that end up in URLs, e.g. apps)."""
    plain = "".join(c for c in unicodedata.normalize("NFD", short_name) if not unicodedata.combining(c))
    return re.sub(r"[^a-zA-Z0-9]", "-", plain).lower()


def user_id(user_name: str) -> str:
    """A stable numeric SCIM id for ``user_name`` (Databricks' ids are decimal strings of up to
    16 digits): bundles name schemas and folders with ``${workspace.current_user.id}``."""
    return str(int(hashlib.sha256(user_name.encode()).hexdigest()[:13], 16))


def current_user() -> dict[str, Any]:
    """``workspace.current_user``: the SCIM ``Me`` user the CLI resolves (``id``, ``userName``,
    ``displayName``, ``active``, ``emails``) plus the CLI's ``short_name`` (the part before ``@``,
    normalised) and ``domain_friendly_name``."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "lakeloom"
    user = os.environ.get("LAKELOOM_USER_NAME") or login
    short = normalize(user.split("@", 1)[0])
    return {"id": user_id(user), "userName": user, "displayName": user, "active": True,
            "emails": [{"value": user, "type": "work", "primary": True}],
            "short_name": short, "domain_friendly_name": domain_friendly(short)}


def populate(config: dict[str, Any], root: Path, target: str) -> None:
    """Fill ``bundle.target``/``environment``, ``workspace.current_user`` and the workspace paths."""
    bundle = config.setdefault("bundle", {}) or {}
    config["bundle"] = bundle
    bundle["target"] = target
    bundle["environment"] = target
    ws = config.get("workspace") or {}
    config["workspace"] = ws
    ws["current_user"] = current_user()
    ws.setdefault("root_path", str(root / ".lakeloom" / "bundles" / "${bundle.name}" / "${bundle.target}"))
    ws.setdefault("file_path", str(root))
    for name in ("artifact", "resource", "state"):
        ws.setdefault(f"{name}_path", "${workspace.root_path}/" + ("resources" if name == "resource" else name + "s"
                                                                     if name == "artifact" else name))


def git_details(root: Path) -> dict[str, str]:
    """``bundle.git`` as the CLI loads it from the bundle's repository (empty values outside one)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return proc.stdout.strip() if proc.returncode == 0 else ""

    top = git("rev-parse", "--show-toplevel")
    branch = git("rev-parse", "--abbrev-ref", "HEAD") if top else ""
    return {"origin_url": git("config", "--get", "remote.origin.url") if top else "", "branch": branch,
            "actual_branch": branch, "commit": git("rev-parse", "HEAD") if top else "",
            "bundle_root_path": os.path.relpath(root, top) if top else "."}


def _prefix_uc(prefix: str) -> str:
    """The CLI's ``normalizePrefix`` for Unity Catalog names: ``[dev alice] `` -> ``dev_alice_``."""
    p = prefix.replace("[", "").strip(" ")
    return normalize(p) + ("_" if p.endswith("]") else "")


def effective_presets(config: dict[str, Any]) -> dict[str, Any]:
    """``presets`` with what ``mode: development`` adds."""
    presets = dict(config.get("presets") or {})
    if (config.get("bundle") or {}).get("mode") == "development":
        short = config["workspace"]["current_user"]["short_name"]
        presets.setdefault("name_prefix", f"[dev {short}] ")
        tags = dict(presets.get("tags") or {})
        tags.setdefault("dev", short)
        presets["tags"] = tags
        if not presets.get("jobs_max_concurrent_runs"):
            presets["jobs_max_concurrent_runs"] = 4
        presets.setdefault("trigger_pause_status", "PAUSED")
        if presets.get("pipelines_development") is not False:
            presets["pipelines_development"] = True
    return presets


def apply_presets(config: dict[str, Any], locs: Locations, source: str) -> list[SpecError]:
    """Rename resources and set tags, concurrency and pause states; returns problems found."""
    presets = effective_presets(config)
    problems: list[SpecError] = []
    pause = presets.get("trigger_pause_status")
    if pause not in (None, "", "PAUSED", "UNPAUSED"):
        where = locs.of(config.get("presets") or {}, "trigger_pause_status")
        problems.append(SpecError(where.file if where else source, where.line if where else None,
                                  "Invalid value for trigger_pause_status, should be PAUSED or UNPAUSED",
                                  field="presets.trigger_pause_status"))
        pause = None
    prefix = str(presets.get("name_prefix") or "")
    uc_prefix = _prefix_uc(prefix) if prefix else ""
    tags = {str(k): str(v) for k, v in (presets.get("tags") or {}).items()}
    resources = config.get("resources") or {}
    for key, job in (resources.get("jobs") or {}).items():
        if not isinstance(job, dict):
            continue
        job["name"] = prefix + str(job.get("name") or key)
        if tags:
            job_tags = job.setdefault("tags", {}) or {}
            job["tags"] = job_tags
            for k, v in tags.items():
                job_tags.setdefault(k, v)
        if not job.get("max_concurrent_runs") and presets.get("jobs_max_concurrent_runs"):
            job["max_concurrent_runs"] = int(presets["jobs_max_concurrent_runs"])
        if pause:
            for section in ("schedule", "continuous", "trigger"):
                block = job.get(section)
                if isinstance(block, dict) and not block.get("pause_status"):
                    block["pause_status"] = pause
    for key, pipeline in (resources.get("pipelines") or {}).items():
        if not isinstance(pipeline, dict):
            continue
        pipeline["name"] = prefix + str(pipeline.get("name") or key)
        if presets.get("pipelines_development"):
            pipeline["development"] = True
        if pause == "PAUSED":
            pipeline["continuous"] = False
        if tags:
            pipeline_tags = pipeline.setdefault("tags", {}) or {}
            pipeline["tags"] = pipeline_tags
            for k, v in tags.items():
                pipeline_tags.setdefault(k, v)
    for dashboard in (resources.get("dashboards") or {}).values():
        blocks = [dashboard.get("schedule")] + list(dashboard.get("schedules") or []) \
            if isinstance(dashboard, dict) and pause else []
        for block in blocks:
            if isinstance(block, dict) and not block.get("pause_status"):
                block["pause_status"] = pause
    for kind, field in (("experiments", "name"), ("models", "name"), ("dashboards", "display_name")):
        for entry in (resources.get(kind) or {}).values():
            if isinstance(entry, dict) and entry.get(field) and prefix:
                if kind == "experiments" and "/" in str(entry[field]):
                    folder, base = str(entry[field]).rsplit("/", 1)
                    entry[field] = f"{folder}/{prefix}{base}"
                else:
                    entry[field] = prefix + str(entry[field])
    skip_schemas = str((config.get("experimental") or {}).get("skip_name_prefix_for_schema", "")).lower() == "true"
    for kind in ("schemas", "registered_models", "model_serving_endpoints"):
        if kind == "schemas" and skip_schemas:  # the CLI's experimental.skip_name_prefix_for_schema
            continue
        for entry in (resources.get(kind) or {}).values():
            if isinstance(entry, dict) and entry.get("name") and uc_prefix:
                entry["name"] = uc_prefix + str(entry["name"])
    return problems


def override_compute(config: dict[str, Any], locs: Locations, source: str) -> list[SpecError]:
    """``bundle.cluster_id`` (a target's ``cluster_id``, old name ``compute_id``; in development
    mode also ``$DATABRICKS_CLUSTER_ID``) moves every task that names compute onto that existing
    cluster, as the CLI's ``OverrideCompute`` does. lakeloom finds its master in
    ``compute.clusters``. ``environment_key`` is kept: lakeloom installs it on any compute."""
    bundle = config.get("bundle") or {}
    problems: list[SpecError] = []
    mode = bundle.get("mode")
    env = os.environ.get("DATABRICKS_CLUSTER_ID")
    if env and mode == "development":
        bundle["cluster_id"] = env
    elif env:
        problems.append(SpecError(source, None, "The DATABRICKS_CLUSTER_ID variable is set but is ignored since the "
                                  "current target does not use 'mode: development'", field="bundle.cluster_id",
                                  severity="warning"))
    cluster_id = bundle.get("cluster_id") or bundle.get("compute_id")
    if not cluster_id:
        return problems
    if mode == "production":
        where = locs.of(bundle, "cluster_id")
        problems.append(SpecError(where.file if where else source, where.line if where else None,
                                  "Setting a cluster override for a target that uses 'mode: production' is not "
                                  "recommended", field="bundle.cluster_id", severity="warning"))
    for job in ((config.get("resources") or {}).get("jobs") or {}).values():
        for task in (job.get("tasks") or []) if isinstance(job, dict) else []:
            if not isinstance(task, dict):
                continue
            inner = (task.get("for_each_task") or {}).get("task") if isinstance(task.get("for_each_task"), dict) \
                else None
            target = inner if isinstance(inner, dict) else task
            if any(target.get(k) for k in ("new_cluster", "existing_cluster_id", "job_cluster_key", "environment_key")):
                target.pop("new_cluster", None)
                target.pop("job_cluster_key", None)
                target["existing_cluster_id"] = str(cluster_id)
    return problems
