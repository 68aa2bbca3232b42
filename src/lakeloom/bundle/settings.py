"""Checks of the bundle-wide sections: ``bundle``, ``workspace``, ``permissions``, ``run_as``,
``sync``, ``artifacts`` and the resource types.

lakeloom has no workspace to send ``permissions`` or ``run_as`` to; it checks they are well
formed (as ``databricks bundle validate`` does) and keeps them in the resolved configuration.
``bundle.databricks_cli_version``, ``workspace.host`` and the like are accepted and ignored.
"""
from __future__ import annotations

from typing import Any

from lakeloom.bundle.loader import RESOURCE_TYPES
from lakeloom.bundle.yamlreader import Locations
from lakeloom.spec.loader import SpecError

BUNDLE_KEYS = frozenset({"name", "uuid", "databricks_cli_version", "compute_id", "cluster_id", "git", "mode",
                         "target", "environment", "deployment", "engine"})
WORKSPACE_KEYS = frozenset({
    "host", "profile", "auth_type", "root_path", "file_path", "artifact_path", "resource_path", "state_path",
    "current_user", "client_id", "azure_client_id", "azure_tenant_id", "azure_environment", "azure_login_app_id",
    "azure_workspace_resource_id", "azure_use_msi", "google_service_account", "metadata_service_url",
    "account_id", "experimental_is_unified_host", "workspace_id",
})
PERMISSION_LEVELS = frozenset({"CAN_MANAGE", "CAN_VIEW", "CAN_RUN", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_USE",
                               "CAN_EDIT", "CAN_READ", "CAN_QUERY", "CAN_ATTACH_TO", "CAN_RESTART", "CAN_MONITOR",
                               "CAN_BIND", "CAN_CREATE"})
PRINCIPALS = ("user_name", "group_name", "service_principal_name")
ARTIFACT_KEYS = frozenset({"type", "build", "path", "files", "executable", "dynamic_version"})
SYNC_KEYS = frozenset({"include", "exclude", "paths"})


class _Checker:
    def __init__(self, locs: Locations, source: str) -> None:
        self.locs = locs
        self.source = source
        self.problems: list[SpecError] = []

    def add(self, container: Any, key: Any, message: str, field: str, severity: str = "error") -> None:
        where = self.locs.of(container, key) if container is not None else None
        self.problems.append(SpecError(where.file if where else self.source, where.line if where else None,
                                       message, field=field, severity=severity))

    def unknown_keys(self, section: Any, allowed: frozenset[str], prefix: str) -> None:
        if isinstance(section, dict):
            for k in section:
                if k not in allowed:
                    self.add(section, k, f"unknown field: {k}", f"{prefix}.{k}", "warning")

    def permissions(self, perms: Any) -> None:
        if perms is None:
            return
        if not isinstance(perms, list):
            self.add(None, None, "permissions must be a list", "permissions")
            return
        for i, p in enumerate(perms):
            if not isinstance(p, dict):
                self.add(perms, i, "a permission must be a mapping", f"permissions[{i}]")
                continue
            who = [k for k in PRINCIPALS if p.get(k)]
            if len(who) != 1:
                self.add(perms, i, "a permission needs exactly one of user_name, group_name, "
                                   "service_principal_name", f"permissions[{i}]")
            if p.get("level") not in PERMISSION_LEVELS:
                self.add(perms, i, f"permission level {p.get('level')!r} is not one of "
                                   f"{', '.join(sorted(PERMISSION_LEVELS))}", f"permissions[{i}].level")

    def run_as(self, run_as: Any, config: dict[str, Any]) -> None:
        if run_as is None:
            return
        if not isinstance(run_as, dict) or sum(bool(run_as.get(k)) for k in ("user_name",
                                                                               "service_principal_name")) != 1:
            self.add(config, "run_as", "run_as needs exactly one of user_name or service_principal_name", "run_as")

    def sync(self, sync: Any, config: dict[str, Any]) -> None:
        if sync is None:
            return
        if not isinstance(sync, dict):
            self.add(config, "sync", "sync must be a mapping with include, exclude, paths", "sync")
            return
        self.unknown_keys(sync, SYNC_KEYS, "sync")
        for key in SYNC_KEYS & set(sync):
            value = sync[key]
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                self.add(sync, key, f"sync.{key} must be a list of paths or glob patterns", f"sync.{key}")

    def artifacts(self, artifacts: Any, config: dict[str, Any]) -> None:
        if artifacts is None:
            return
        if not isinstance(artifacts, dict):
            self.add(config, "artifacts", "artifacts must be a mapping of name to artifact", "artifacts")
            return
        for name, a in artifacts.items():
            if not isinstance(a, dict):
                self.add(artifacts, name, f"artifact {name!r} must be a mapping", f"artifacts.{name}")
                continue
            self.unknown_keys(a, ARTIFACT_KEYS, f"artifacts.{name}")
            if a.get("type") not in (None, "whl", "jar"):
                self.add(a, "type", f"artifact {name!r}: type must be whl or jar, not {a['type']!r}",
                         f"artifacts.{name}.type")
            if a.get("build") is not None and not isinstance(a["build"], str):
                self.add(a, "build", f"artifact {name!r}: build must be a command string", f"artifacts.{name}.build")
            files = a.get("files")
            if files is not None and not (isinstance(files, list) and all(
                    isinstance(f, dict) and isinstance(f.get("source"), str) for f in files)):
                self.add(a, "files", f"artifact {name!r}: files must be a list of {{source: path}}",
                         f"artifacts.{name}.files")

    def resource_types(self, resources: Any, config: dict[str, Any]) -> None:
        if resources is None:
            return
        if not isinstance(resources, dict):
            self.add(config, "resources", "resources must be a mapping of resource type to resources", "resources")
            return
        for kind, entries in resources.items():
            if kind not in RESOURCE_TYPES:
                self.add(resources, kind, f"unknown resource type: {kind}", f"resources.{kind}", "warning")
            elif entries is not None and not isinstance(entries, dict):
                self.add(resources, kind, f"resources.{kind} must be a mapping of key to settings",
                         f"resources.{kind}")


def check_settings(config: dict[str, Any], locs: Locations, source: str) -> list[SpecError]:
    """Problems (errors and warnings) in the bundle-wide sections."""
    c = _Checker(locs, source)
    if not (config.get("bundle") or {}).get("name"):
        c.add(config, "bundle", "bundle.name is required", "bundle.name")
    c.unknown_keys(config.get("bundle"), BUNDLE_KEYS, "bundle")
    c.unknown_keys(config.get("workspace"), WORKSPACE_KEYS, "workspace")
    c.permissions(config.get("permissions"))
    c.run_as(config.get("run_as"), config)
    c.sync(config.get("sync"), config)
    c.artifacts(config.get("artifacts"), config)
    c.resource_types(config.get("resources"), config)
    return c.problems
