"""Unity-Catalog-style grants and ownership of a workspace's catalogs, without Spark.

The same store the JVM enforces (``io.lakeloom.catalog.authz``), for the REST API, the CLI and
Python-side checks (volumes through ``dbutils.fs``). On disk, under ``workspace.catalog_dir``:

- ``.governance/grants.json``::

      {"format_version": 1,
       "grants": {"TABLE main.sales.orders": {"alice": ["SELECT"], "analysts": ["MODIFY", "SELECT"]}},
       "owners": {"VOLUME main.raw.landing": "alice"}}

  Keys are ``"<KIND> <lower-case full name>"`` with KIND one of CATALOG, SCHEMA, TABLE (views,
  materialized views and streaming tables too), VOLUME, FUNCTION, REGISTERED_MODEL. Privileges
  are spelled as Unity Catalog's API spells them (``USE_CATALOG``, ``ALL_PRIVILEGES``). Writers
  hold a POSIX record lock (``fcntl.lockf``; Java's ``FileChannel.lock`` takes the same lock) on
  ``grants.json.lock`` and publish by atomic rename; readers stat the file on every check.
- Owners of catalogs, schemas, tables, views and volumes are the ``owner`` field of
  ``<c>/catalog.json``, ``<c>/<s>/schema.json``, ``<c>/<s>/tables/<t>.json`` and
  ``<c>/<s>/volumes/<v>.json``; other owners (functions, models) are under ``owners``.
- ``.governance/identity.json``: groups and admins (:mod:`lakeloom.catalog.identity`).

The ``system`` catalog is governed the same way: its schemas and tables belong to the admins,
everyone holds USE_CATALOG on it (:data:`BUILTIN_GRANTS`, as Databricks grants ``account users``),
and only the read privileges (:data:`SYSTEM_GRANTABLE`) can be granted on it.

Rules (as Unity Catalog): a principal holds privilege P on securable S when it is an admin,
owns S (directly or through a group; no recorded owner means the admins), or P or
ALL_PRIVILEGES is granted to it or one of its groups on S or a catalog/schema containing S.
MANAGE is also held by the owners of S's containers. Using an object needs USE_CATALOG on its
catalog and USE_SCHEMA on its schema. Granting, revoking and changing the owner need MANAGE.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.catalog import audit, identity
from lakeloom.catalog.system_conf import SYSTEM_CATALOG, SYSTEM_TABLES

if TYPE_CHECKING:
    from lakeloom.config import Workspace

KINDS = ("CATALOG", "SCHEMA", "TABLE", "VOLUME", "FUNCTION", "REGISTERED_MODEL")
_CONTAINER = ("USE_SCHEMA", "CREATE_TABLE", "CREATE_VOLUME", "CREATE_FUNCTION", "CREATE_MODEL", "SELECT",
              "MODIFY", "READ_VOLUME", "WRITE_VOLUME", "EXECUTE", "MANAGE", "BROWSE", "ALL_PRIVILEGES")
APPLICABLE: dict[str, frozenset[str]] = {
    "CATALOG": frozenset(_CONTAINER + ("USE_CATALOG", "CREATE_SCHEMA")),
    "SCHEMA": frozenset(_CONTAINER),
    "TABLE": frozenset({"SELECT", "MODIFY", "MANAGE", "BROWSE", "ALL_PRIVILEGES"}),
    "VOLUME": frozenset({"READ_VOLUME", "WRITE_VOLUME", "MANAGE", "BROWSE", "ALL_PRIVILEGES"}),
    "FUNCTION": frozenset({"EXECUTE", "MANAGE", "BROWSE", "ALL_PRIVILEGES"}),
    "REGISTERED_MODEL": frozenset({"EXECUTE", "MANAGE", "BROWSE", "ALL_PRIVILEGES"}),
}
PRIVILEGES = frozenset().union(*APPLICABLE.values())
#: Grants every workspace has without a line in grants.json (the JVM's ``SystemSecurables``).
BUILTIN_GRANTS: dict[str, dict[str, list[str]]] = {f"CATALOG {SYSTEM_CATALOG}": {"account users": ["USE_CATALOG"]}}
#: What can be granted inside the read-only ``system`` catalog.
SYSTEM_GRANTABLE = frozenset({"USE_CATALOG", "USE_SCHEMA", "SELECT", "BROWSE", "ALL_PRIVILEGES"})
_KIND_ALIASES = {"DATABASE": "SCHEMA", "VIEW": "TABLE", "MATERIALIZED_VIEW": "TABLE", "STREAMING_TABLE": "TABLE",
                 "MODEL": "REGISTERED_MODEL"}


class GrantError(ValueError):
    """A grant request names an unknown securable type, privilege or a wrongly shaped name."""


class PermissionDenied(PermissionError):
    """Databricks' denial: ``message`` is ``User does not have P on Kind 'name'.``"""


@dataclass(frozen=True)
class Securable:
    """A securable: ``kind`` (CATALOG ... REGISTERED_MODEL) and its lower-case name parts."""

    kind: str
    parts: tuple[str, ...]

    @classmethod
    def of(cls, kind: str, full_name: str) -> Securable:
        """Parse ``kind`` (``table``, ``VIEW``, ``schema``...) and a dotted full name."""
        k = normalize_kind(kind)
        parts = tuple(p.strip().strip("`").lower() for p in full_name.split("."))
        want = {"CATALOG": 1, "SCHEMA": 2}.get(k, 3)
        if len(parts) != want or not all(parts):
            raise GrantError(f"{k} {full_name!r}: expected a name of {want} part(s)")
        return cls(k, parts)

    @property
    def full_name(self) -> str:
        return ".".join(self.parts)

    @property
    def key(self) -> str:
        return f"{self.kind} {self.full_name}"

    @property
    def ancestors(self) -> list[Securable]:
        """Catalog, then schema, containing this securable."""
        if self.kind == "CATALOG":
            return []
        if self.kind == "SCHEMA":
            return [Securable("CATALOG", self.parts[:1])]
        return [Securable("CATALOG", self.parts[:1]), Securable("SCHEMA", self.parts[:2])]

    def describe(self) -> str:
        label = "Registered Model" if self.kind == "REGISTERED_MODEL" else self.kind.capitalize()
        return f"{label} '{self.full_name}'"


def normalize_kind(kind: str) -> str:
    k = kind.strip().upper().replace(" ", "_")
    k = _KIND_ALIASES.get(k, k)
    if k not in KINDS:
        raise GrantError(f"unknown securable type {kind!r} (one of {', '.join(k.lower() for k in KINDS)})")
    return k


def normalize_privilege(privilege: str) -> str:
    p = "_".join(privilege.strip().upper().replace("_", " ").split())
    if p not in PRIVILEGES:
        raise GrantError(f"unknown privilege {privilege!r}")
    return p


def denial(privilege: str, securable: Securable) -> PermissionDenied:
    return PermissionDenied(f"User does not have {privilege.replace('_', ' ')} on {securable.describe()}.")


class GrantStore:
    """The grants and owners of one workspace (``workspace.catalog_dir``)."""

    def __init__(self, workspace: Workspace, authorize_hook: Callable[..., Any] | None = None) -> None:
        self.workspace = workspace
        self.dir = workspace.catalog_dir
        self.file = self.dir / ".governance" / "grants.json"
        #: ``pm.hook.lakeloom_authorize``: plugins decide first (firstresult); None defers to the grants.
        self.authorize_hook = authorize_hook
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    # --- reading ----------------------------------------------------------------------------

    def _data(self) -> dict[str, Any]:
        try:
            st = self.file.stat()
        except FileNotFoundError:
            return {"grants": {}, "owners": {}}
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, json.loads(self.file.read_text()))
        return self._cache[1]

    def _grants(self) -> dict[str, dict[str, list[str]]]:
        """The file's grants with :data:`BUILTIN_GRANTS` added."""
        grants = dict(self._data().get("grants", {}))
        for key, per in BUILTIN_GRANTS.items():
            merged = {p: list(v) for p, v in grants.get(key, {}).items()}
            for p, privs in per.items():
                merged[p] = sorted(set(merged.get(p, [])) | set(privs))
            grants[key] = merged
        return grants

    def _metadata_file(self, s: Securable) -> Path | None:
        if s.parts[0] == SYSTEM_CATALOG:
            return None
        if s.kind == "CATALOG":
            return self.dir / s.parts[0] / "catalog.json"
        if s.kind == "SCHEMA":
            return self.dir / s.parts[0] / s.parts[1] / "schema.json"
        if s.kind == "TABLE":
            return self.dir / s.parts[0] / s.parts[1] / "tables" / f"{s.parts[2]}.json"
        if s.kind == "VOLUME":
            return self.dir / s.parts[0] / s.parts[1] / "volumes" / f"{s.parts[2]}.json"
        return None

    def exists(self, s: Securable) -> bool:
        """Whether a catalog, schema, table/view or volume exists (functions, models: always True here)."""
        if s.parts[0] == SYSTEM_CATALOG:
            tables = SYSTEM_TABLES.get(s.parts[1], ()) if len(s.parts) > 1 else ()
            return s.kind == "CATALOG" or (s.kind == "SCHEMA" and s.parts[1] in SYSTEM_TABLES) or (
                s.kind == "TABLE" and s.parts[2] in tables)
        meta = self._metadata_file(s)
        return meta is None or meta.is_file()

    def applicable(self, s: Securable) -> frozenset[str]:
        """The privileges that can be granted on ``s`` (only the read ones inside ``system``)."""
        return APPLICABLE[s.kind] & SYSTEM_GRANTABLE if s.parts[0] == SYSTEM_CATALOG else APPLICABLE[s.kind]

    def owner(self, s: Securable) -> str | None:
        """The recorded owner; None means the metastore admins own it."""
        meta = self._metadata_file(s)
        if meta is not None:
            try:
                owner = json.loads(meta.read_text()).get("owner")
                if owner:
                    return str(owner)
            except FileNotFoundError:
                pass
        owner = self._data().get("owners", {}).get(s.key)
        return str(owner) if owner else None

    def grants_on(self, s: Securable) -> dict[str, list[str]]:
        """``{principal: [privileges]}`` granted directly on ``s``."""
        return {p: sorted(v) for p, v in self._grants().get(s.key, {}).items()}

    def is_owner(self, principal: str, s: Securable) -> bool:
        owner = self.owner(s)
        if owner is None:
            return identity.is_admin(principal, self.workspace)
        return owner == principal or owner in identity.groups_of(principal, self.workspace)

    def holds(self, principal: str, privilege: str, s: Securable) -> bool:
        """Whether ``principal`` holds ``privilege`` on ``s`` itself (USE on parents not counted)."""
        privilege = normalize_privilege(privilege)
        if identity.is_admin(principal, self.workspace) or self.is_owner(principal, s):
            return True
        who = identity.groups_of(principal, self.workspace) | {principal}
        grants = self._grants()
        on = [s] + (s.ancestors if privilege != "USE_CATALOG" else [])
        for target in on:
            for p, privs in grants.get(target.key, {}).items():
                if p in who and (privilege in privs or "ALL_PRIVILEGES" in privs):
                    return True
        return privilege == "MANAGE" and any(self.is_owner(principal, a) for a in s.ancestors)

    def check(self, principal: str, privilege: str, s: Securable) -> None:
        """Raise :class:`PermissionDenied` unless ``principal`` may use ``privilege`` on ``s``
        (including USE_CATALOG / USE_SCHEMA on its containers). A ``lakeloom_authorize`` plugin
        answering True or False decides instead."""
        privilege = normalize_privilege(privilege)
        if self.authorize_hook is not None:
            verdict = self.authorize_hook(principal=principal, privilege=privilege, securable=s.full_name)
            if verdict is not None:
                if not verdict:
                    raise denial(privilege, s)
                return
        for a in s.ancestors:
            use = "USE_CATALOG" if a.kind == "CATALOG" else "USE_SCHEMA"
            if not self.holds(principal, use, a):
                raise denial(use, a)
        if not self.holds(principal, privilege, s):
            raise denial(privilege, s)

    def effective_privileges(self, principal: str, s: Securable) -> list[str]:
        """What ``principal`` holds on ``s``: ``["ALL_PRIVILEGES"]`` for owners and admins."""
        if identity.is_admin(principal, self.workspace) or self.is_owner(principal, s):
            return ["ALL_PRIVILEGES"]
        return sorted(p for p in self.applicable(s) - {"ALL_PRIVILEGES"} if self.holds(principal, p, s))

    def show(self, s: Securable, principal: str | None = None) -> list[dict[str, str]]:
        """SHOW GRANTS rows (``principal, action_type, object_type, object_key``): the owner
        (``OWN``), grants on ``s``, then those inherited from its schema and catalog."""
        rows = []
        owner = self.owner(s)
        if owner:
            rows.append({"principal": owner, "action_type": "OWN", "object_type": s.kind, "object_key": s.full_name})
        for on in [s, *reversed(s.ancestors)]:
            for p, privs in sorted(self.grants_on(on).items()):
                rows += [{"principal": p, "action_type": priv.replace("_", " "), "object_type": on.kind,
                          "object_key": on.full_name} for priv in privs]
        return [r for r in rows if principal is None or r["principal"] == principal]

    # --- writing ----------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.file.with_name("grants.json.lock"), "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            try:
                try:
                    data = json.loads(self.file.read_text())
                except FileNotFoundError:
                    data = {"format_version": 1}
                yield data
                data.setdefault("grants", {})
                tmp = self.file.with_name(f".grants.json.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
                os.replace(tmp, self.file)
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)

    def _require_manage(self, actor: str | None, s: Securable) -> None:
        if actor is not None and not self.holds(actor, "MANAGE", s):
            raise denial("MANAGE", s)

    def _validate(self, s: Securable, privileges: Iterable[str]) -> list[str]:
        if not self.exists(s):
            raise GrantError(f"{s.describe()} does not exist")
        privs = [normalize_privilege(p) for p in privileges]
        bad = [p for p in privs if p not in self.applicable(s)]
        if bad:
            raise GrantError(f"privilege {', '.join(bad)} is not applicable to {s.describe()}")
        return privs

    def update(self, s: Securable, principal: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
               actor: str | None = None) -> None:
        """Grant ``add`` and revoke ``remove`` for ``principal`` on ``s`` (Unity Catalog's PATCH
        ``permissions`` change). ``actor`` (checked for MANAGE, audited) is who asks; None skips the check."""
        adding, removing = self._validate(s, add), self._validate(s, remove)
        params = {"securable_type": s.kind.lower(), "securable_full_name": s.full_name,
                  "changes": json.dumps([{"principal": principal, "add": adding, "remove": removing}])}
        try:
            self._require_manage(actor, s)
        except PermissionDenied as e:
            audit.log(self.workspace, "updatePermissions", actor or identity.os_user(), params, 403, str(e))
            raise
        with self._locked() as data:
            per = data.setdefault("grants", {}).setdefault(s.key, {})
            current = set(per.get(principal, []))
            current |= set(adding)
            current = set() if "ALL_PRIVILEGES" in removing else current - set(removing)
            if current:
                per[principal] = sorted(current)
            else:
                per.pop(principal, None)
            if not per:
                data["grants"].pop(s.key, None)
        audit.log(self.workspace, "updatePermissions", actor or identity.os_user(), params, 200)

    def grant(self, s: Securable, principal: str, privileges: Iterable[str], *, actor: str | None = None) -> None:
        self.update(s, principal, add=privileges, actor=actor)

    def revoke(self, s: Securable, principal: str, privileges: Iterable[str], *, actor: str | None = None) -> None:
        self.update(s, principal, remove=privileges, actor=actor)

    def set_owner(self, s: Securable, owner: str, *, actor: str | None = None) -> None:
        """Make ``owner`` the owner of ``s`` (``ALTER ... OWNER TO``)."""
        if not self.exists(s):
            raise GrantError(f"{s.describe()} does not exist")
        if s.parts[0] == SYSTEM_CATALOG:
            raise GrantError(f"{s.describe()} belongs to the system: its owner cannot be changed")
        params = {"full_name_arg": s.full_name, "owner": owner}
        action = {"CATALOG": "updateCatalog", "SCHEMA": "updateSchema", "VOLUME": "updateVolume"}.get(
            s.kind, "updateTables")
        try:
            self._require_manage(actor, s)
        except PermissionDenied as e:
            audit.log(self.workspace, action, actor or identity.os_user(), params, 403, str(e))
            raise
        meta = self._metadata_file(s)
        if meta is not None:
            entry = json.loads(meta.read_text())
            entry["owner"] = owner
            tmp = meta.with_name(f".{meta.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entry, indent=2))
            os.replace(tmp, meta)
        else:
            with self._locked() as data:
                data.setdefault("owners", {})[s.key] = owner
        audit.log(self.workspace, action, actor or identity.os_user(), params, 200)
