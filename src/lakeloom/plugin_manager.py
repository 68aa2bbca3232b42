"""The plugin manager: built-ins from DEFAULT_PLUGINS, third parties from entry points.

Built-in plugins are registered with the same ``pm.register`` call as entry-point
plugins, so a built-in can be disabled or replaced like any other
(``LAKELOOM_DISABLE_PLUGINS=name,...`` or ``plugins.disable`` in the config).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Iterable

import pluggy

from lakeloom import hookspecs

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_api import TaskType

ENTRY_POINT_GROUP = "lakeloom"

#: Built-in plugins, by module path. Their name is the last dotted component.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "lakeloom.plugins.python_tasks",
    "lakeloom.plugins.condition_task",
    "lakeloom.plugins.for_each_task",
    "lakeloom.plugins.run_job_task",
    "lakeloom.plugins.notebook_task",
    "lakeloom.plugins.sql_task",
    "lakeloom.plugins.pipeline_task",
    "lakeloom.plugins.spark_jar_task",
    "lakeloom.plugins.spark_submit_task",
    "lakeloom.plugins.quality",
    "lakeloom.plugins.ml",
    "lakeloom.plugins.dashboards",
    "lakeloom.plugins.triggers.schedule",
    "lakeloom.plugins.triggers.file_arrival",
    "lakeloom.plugins.triggers.table_update",
    "lakeloom.plugins.triggers.continuous",
    "lakeloom.plugins.notify.notifications",
    "lakeloom.plugins.notify.email_notifier",
    "lakeloom.plugins.notify.slack_notifier",
    "lakeloom.plugins.notify.webhook_notifier",
    "lakeloom.plugins.run_audit",
)


class PluginError(Exception):
    """A plugin could not be loaded or conflicts with another."""


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    task_kinds: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    notifiers: list[str] = field(default_factory=list)


class LakeloomPluginManager(pluggy.PluginManager):
    """A pluggy manager that also indexes task types by job-spec key."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self._task_types: dict[str, TaskType] | None = None
        self._owners: dict[str, str] = {}
        self.distributions: dict[str, tuple[str, str]] = {}

    @property
    def task_types(self) -> dict[str, TaskType]:
        """Task types by key. Two plugins owning one key raise PluginError."""
        if self._task_types is None:
            types: dict[str, TaskType] = {}
            owners: dict[str, str] = {}
            for impl in self.hook.lakeloom_task_types.get_hookimpls():
                for tt in impl.function() or []:
                    if tt.key in types:
                        raise PluginError(
                            f"task kind {tt.key!r} is provided by both {owners[tt.key]!r} and {impl.plugin_name!r}")
                    types[tt.key] = tt
                    owners[tt.key] = impl.plugin_name
            self._task_types, self._owners = types, owners
        return self._task_types

    def owner_of(self, kind: str) -> str | None:
        self.task_types  # noqa: B018 - builds the index
        return self._owners.get(kind)

    def describe(self) -> list[PluginInfo]:
        """One entry per registered plugin, with what it provides."""
        infos: dict[str, PluginInfo] = {}
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self.distributions.get(name, ("lakeloom", _version("lakeloom")))
            infos[name] = PluginInfo(name, dist, version)
        for kind in self.task_types:
            owner = self._owners[kind]
            if owner in infos:
                infos[owner].task_kinds.append(kind)
        for hook, attr in (("lakeloom_triggers", "triggers"), ("lakeloom_notifiers", "notifiers")):
            for impl in getattr(self.hook, hook).get_hookimpls():
                if impl.plugin_name in infos:
                    for item in impl.function() or []:
                        getattr(infos[impl.plugin_name], attr).append(_item_name(item))
        return sorted(infos.values(), key=lambda i: (i.distribution != "lakeloom", i.name))


def _item_name(item: Any) -> str:
    return str(getattr(item, "key", None) or getattr(item, "name", None) or item)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def plugin_name(module_path: str) -> str:
    return module_path.rsplit(".", 1)[-1]


def build_plugin_manager(disabled: Iterable[str] = (), *, load_entry_points: bool = True,
                         extra_plugins: Iterable[Any] = ()) -> LakeloomPluginManager:
    """Register the built-ins, then every ``lakeloom`` entry point, minus ``disabled``."""
    pm = LakeloomPluginManager()
    blocked = set(disabled)
    for name in blocked:
        pm.set_blocked(name)
    for module_path in DEFAULT_PLUGINS:
        name = plugin_name(module_path)
        if name in blocked:
            continue
        pm.register(importlib.import_module(module_path), name=name)
    if load_entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as e:  # a broken third-party plugin must say who it is
                dist = ep.dist.name if ep.dist else "?"
                raise PluginError(f"plugin {ep.name!r} from {dist} failed to load: {e}") from e
            pm.register(plugin, name=ep.name)
            if ep.dist is not None:
                pm.distributions[ep.name] = (ep.dist.name, ep.dist.version)
    for plugin in extra_plugins:
        pm.register(plugin)
    return pm


def plugin_spark_conf(workspace: Workspace, pm: LakeloomPluginManager | None = None) -> dict[str, str]:
    """The Spark settings the plugins of ``workspace`` ask for (``lakeloom_spark_conf``), merged.

    ``pm`` defaults to a manager built for the workspace's ``disabled_plugins``. The answers
    are applied in pluggy's call order (the last registered plugin is called first), each
    replacing the keys it shares with those before it, so for a key two plugins both set, the
    one registered first wins; a plugin returning ``None`` adds nothing. The result is the
    ``plugin_conf`` of :func:`lakeloom.runtime.spark.spark_conf`, below the workspace's own
    ``spark.conf`` and a job cluster's settings.
    """
    if pm is None:
        pm = build_plugin_manager(workspace.disabled_plugins)
    conf: dict[str, str] = {}
    for part in pm.hook.lakeloom_spark_conf(workspace=workspace):
        conf.update(part or {})
    return conf
