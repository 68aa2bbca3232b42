"""``dbutils.secrets``: scopes from environment variables and a local secrets file.

Sources, looked up in this order:

1. Environment variables ``LAKELOOM_SECRET_<SCOPE>__<KEY>`` (two underscores
   between scope and key). Scope and key are matched case-insensitively with every
   character other than a letter or digit read as ``_``: the secret
   ``dbutils.secrets.get("my-scope", "db.password")`` is
   ``LAKELOOM_SECRET_MY_SCOPE__DB_PASSWORD``.
2. The YAML file named by ``secrets.file`` in ``conf/lakeloom.yml`` (keep it outside
   the repository, e.g. ``~/.lakeloom/secrets.yml``)::

       my-scope:
         db-password: s3cr3t
       # or, equivalently, nested under a top-level ``scopes:`` key

Every value read inside a task is added to ``ctx.redactions``, so it is replaced by
``[REDACTED]`` in the task's captured output, logs, error, outputs and saved notebook.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from lakeloom.plugin_api import current_context

ENV_PREFIX = "LAKELOOM_SECRET_"


class SecretScope(NamedTuple):
    """A scope, as ``dbutils.secrets.listScopes`` returns it."""

    name: str

    def getName(self) -> str:
        """The scope name."""
        return self.name


class SecretMetadata(NamedTuple):
    """A key of a scope, as ``dbutils.secrets.list`` returns it."""

    key: str


class SecretNotFound(Exception):
    """The scope or key does not exist in any source."""


def _norm(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


#: Secret scopes a bundle deploy created (``resources.secret_scopes``), under the workspace's state folder.
BUNDLE_SCOPES_FILE = "secret_scopes.yml"


def _workspace() -> Any:
    ctx = current_context()
    if ctx is not None:
        return ctx.workspace
    from lakeloom.config import load_workspace

    return load_workspace()


def _secrets_file() -> Path | None:
    return _workspace().secrets_file  # type: ignore[no-any-return]


def _read_scopes(path: Path, what: str) -> dict[str, dict[str, str]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{what} {path}: invalid YAML: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("scopes"), dict):
        data = data["scopes"]
    if not isinstance(data, dict) or not all(isinstance(v, dict) or v is None for v in data.values()):
        raise ValueError(f"{what} {path}: expected a mapping of scope -> {{key: value}}")
    return {str(s): {str(k): "" if v is None else str(v) for k, v in (keys or {}).items()}
            for s, keys in data.items()}


def _file_scopes() -> dict[str, dict[str, str]]:
    """Scopes of the secrets file, plus the (empty unless filled) scopes bundles deployed."""
    scopes: dict[str, dict[str, str]] = {}
    bundle_file = _workspace().state_dir / BUNDLE_SCOPES_FILE
    if bundle_file.exists():
        scopes.update(_read_scopes(bundle_file, "bundle secret scopes"))
    path = _secrets_file()
    if path is not None and path.exists():
        for scope, keys in _read_scopes(path, "secrets file").items():
            scopes.setdefault(scope, {}).update(keys)
    return scopes


def _env_scopes() -> dict[str, dict[str, str]]:
    scopes: dict[str, dict[str, str]] = {}
    for name, value in os.environ.items():
        if name.startswith(ENV_PREFIX) and "__" in name[len(ENV_PREFIX):]:
            scope, key = name[len(ENV_PREFIX):].split("__", 1)
            if scope and key:
                scopes.setdefault(scope.lower(), {})[key.lower()] = value
    return scopes


def _lookup(scope: str, key: str) -> str:
    env = os.environ.get(f"{ENV_PREFIX}{_norm(scope)}__{_norm(key)}")
    if env is None:
        wanted = f"{ENV_PREFIX}{_norm(scope)}__{_norm(key)}"
        env = next((v for k, v in os.environ.items() if k.upper() == wanted), None)
    if env is not None:
        return env
    file_scopes = _file_scopes()
    if scope in file_scopes and key in file_scopes[scope]:
        return file_scopes[scope][key]
    if scope not in file_scopes and _norm(scope) not in {_norm(s) for s in _env_scopes()}:
        raise SecretNotFound(f"Secret does not exist with scope: {scope} and key: {key} (no scope {scope!r}; "
                             f"set {ENV_PREFIX}{_norm(scope)}__{_norm(key)} or add it to the secrets file)")
    raise SecretNotFound(f"Secret does not exist with scope: {scope} and key: {key}")


def _remember(value: str) -> None:
    ctx = current_context()
    if ctx is not None and value:
        ctx.redactions.add(value)


class SecretsUtil:
    """``dbutils.secrets``: read-only secret scopes."""

    def get(self, scope: str, key: str) -> str:
        """The secret's value as a string (redacted from the task's output from now on)."""
        value = _lookup(scope, key)
        _remember(value)
        return value

    def getBytes(self, scope: str, key: str) -> bytes:
        """The secret's value as UTF-8 bytes."""
        return self.get(scope, key).encode("utf-8")

    def list(self, scope: str) -> list[SecretMetadata]:
        """The keys of ``scope`` (values are never listed)."""
        keys: set[str] = set()
        found = False
        file_scopes = _file_scopes()
        if scope in file_scopes:
            found = True
            keys.update(file_scopes[scope])
        for env_scope, env_keys in _env_scopes().items():
            if _norm(env_scope) == _norm(scope):
                found = True
                keys.update(env_keys)
        if not found:
            raise SecretNotFound(f"Scope {scope} does not exist")
        return [SecretMetadata(k) for k in sorted(keys)]

    def listScopes(self) -> list[SecretScope]:
        """Every scope of the secrets file and of ``LAKELOOM_SECRET_*`` variables."""
        names = dict.fromkeys(_file_scopes())
        known = {_norm(n) for n in names}
        for env_scope in _env_scopes():
            if _norm(env_scope) not in known:
                names[env_scope] = None
        return [SecretScope(n) for n in sorted(names)]

    def help(self, method: str | None = None) -> None:
        """Print where secrets come from."""
        print(f"dbutils.secrets: get, getBytes, list, listScopes; sources: {ENV_PREFIX}<SCOPE>__<KEY>, secrets.file")
