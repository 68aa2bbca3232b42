"""Who a run executes as, and the groups and admins that governance knows.

Every run executes as one principal: the job's ``run_as`` (``user_name`` or
``service_principal_name``), else whoever started it (the API token's principal for ``serve``,
the OS user for the CLI). The engine binds each task thread to it with the SparkContext local
property ``lakeloom.principal`` (:data:`PRINCIPAL_PROPERTY`); the JVM half
(``io.lakeloom.catalog.authz.Identity``) falls back to the Spark setting
``spark.lakeloom.principal``, then the JVM's ``user.name``.

Groups come from ``governance.groups: {group: [members]}`` in ``conf/lakeloom.yml``
(``server.groups`` is read as an alias when ``governance.groups`` is absent; giving both is an
error, so there is one source of truth). ``governance.admins`` lists the metastore admins and
defaults to the OS user who created the workspace (the owner of its folder), so a fresh
workspace on a laptop just works. Members of the ``admins`` group are admins too. Every
principal is in ``users`` and ``account users``.

The JVM reads groups and admins from ``<workspace.catalog_dir>/.governance/identity.json``
(:func:`publish`), which mirrors the config whenever a Spark session is prepared.

Importing this module does not import pyspark.
"""
from __future__ import annotations

import getpass
import json
import os
import pwd
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.config import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.config import Workspace

PRINCIPAL_PROPERTY = "lakeloom.principal"
PRINCIPAL_CONF = "spark.lakeloom.principal"
EVERYONE_GROUPS = frozenset({"users", "account users"})
ADMINS_GROUP = "admins"
IDENTITY_FILE = Path(".governance") / "identity.json"


def os_user() -> str:
    """The OS user running this process."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER variables
        return str(os.getuid())


def run_principal(run_as: str | None, creator: str | None) -> str:
    """The principal a run executes as: its ``run_as``, else its creator, else the OS user."""
    return run_as or creator or os_user()


def governance_settings(workspace: Workspace) -> dict[str, Any]:
    """The ``governance:`` mapping of the workspace config."""
    value = workspace.settings.get("governance") or {}
    if not isinstance(value, dict):
        raise ConfigError("conf/lakeloom.yml: governance must be a mapping (groups, admins)")
    return value


def configured_groups(workspace: Workspace) -> dict[str, list[str]]:
    """``{group: [members]}`` from ``governance.groups`` (or its alias ``server.groups``)."""
    governance = governance_settings(workspace).get("groups")
    server = workspace.server.get("groups")
    if governance and server and governance != server:
        raise ConfigError("conf/lakeloom.yml: groups are set under both governance.groups and server.groups; "
                          "keep one (governance.groups)")
    groups = governance or server or {}
    field = "governance.groups" if governance else "server.groups"
    if not isinstance(groups, Mapping):
        raise ConfigError(f"conf/lakeloom.yml: {field} must map a group name to a list of members")
    out: dict[str, list[str]] = {}
    for group, members in groups.items():
        if members is not None and not isinstance(members, list):
            raise ConfigError(f"conf/lakeloom.yml: {field}.{group} must be a list of principals")
        out[str(group)] = [str(m) for m in members or []]
    return out


def workspace_creator(workspace: Workspace) -> str:
    """The OS user who owns the workspace's state folder (or the workspace folder)."""
    for path in (workspace.state_dir, workspace.root):
        try:
            return pwd.getpwuid(path.stat().st_uid).pw_name
        except (FileNotFoundError, KeyError):
            continue
    return os_user()


def admins(workspace: Workspace) -> list[str]:
    """``governance.admins``, defaulting to the OS user who created the workspace."""
    configured = governance_settings(workspace).get("admins")
    if configured is None:
        return [workspace_creator(workspace)]
    if isinstance(configured, str):
        configured = [configured]
    if not isinstance(configured, list):
        raise ConfigError("conf/lakeloom.yml: governance.admins must be a list of principals")
    return [str(a) for a in configured]


def groups_of(principal: str, workspace: Workspace) -> frozenset[str]:
    """Every group ``principal`` is in, ``users`` and ``account users`` included."""
    listed = {g for g, members in configured_groups(workspace).items() if principal in members}
    return frozenset(EVERYONE_GROUPS | listed)


def is_admin(principal: str, workspace: Workspace) -> bool:
    """Whether ``principal`` is a metastore admin (listed, or in the ``admins`` group)."""
    return principal in admins(workspace) or ADMINS_GROUP in groups_of(principal, workspace)


def is_member(principal: str, group: str, workspace: Workspace) -> bool:
    """``is_account_group_member(group)`` for ``principal``."""
    return group == principal or group in groups_of(principal, workspace)


def publish(workspace: Workspace, store_dir: Path | None = None) -> Path:
    """Mirror the groups and admins of the config into ``<catalog_dir>/.governance/identity.json``
    for the JVM (written only when it changed, atomically)."""
    target = (store_dir or workspace.catalog_dir) / IDENTITY_FILE
    body = json.dumps({"format_version": 1, "groups": configured_groups(workspace), "admins": admins(workspace)},
                      indent=1, sort_keys=True)
    try:
        if target.read_text() == body:
            return target
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per thread: the first tasks of a run can start Spark (and publish) at once.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(body)
    os.replace(tmp, target)
    return target


# --- the principal of a Spark thread -------------------------------------------------------------

def set_principal(spark: SparkSession, principal: str | None) -> None:
    """Make the calling thread's statements run as ``principal`` (None: back to the default)."""
    spark.sparkContext.setLocalProperty(PRINCIPAL_PROPERTY, principal)  # type: ignore[arg-type]


def current_principal(spark: SparkSession) -> str:
    """Whom the calling thread's statements run as (what ``current_user()`` answers)."""
    return str(spark.sparkContext._jvm.io.lakeloom.catalog.authz.Identity.currentUser())  # type: ignore[union-attr]


@contextmanager
def as_principal(spark: SparkSession, principal: str) -> Iterator[None]:
    """Run the ``with`` block's statements (on this thread) as ``principal``."""
    previous = spark.sparkContext.getLocalProperty(PRINCIPAL_PROPERTY)
    set_principal(spark, principal)
    try:
        yield
    finally:
        set_principal(spark, previous)
