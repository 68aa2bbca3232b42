"""Workspace configuration: ``conf/lakeloom.yml``, targets, environment overrides.

A workspace is a folder. Its state lives under ``<workspace>/.lakeloom/``. The config
file is optional; every value has an embedded default (local Spark, SQLite, a Delta
warehouse under ``.lakeloom/warehouse``). The repository's own ``conf/lakeloom.yml`` is a
commented example of every setting (the demo runs on its defaults).

``conf/lakeloom.yml``::

    store: {url: sqlite:///...}            # default: .lakeloom/lakeloom.db
    spark: {master: "local[*]", conf: {k: v}}
    compute: {master: ..., node_types: {m5.xlarge: {cores: 4, memory: 16g}}, clusters: {id: {master: ...}}}
                                           # job clusters (lakeloom.runtime.compute)
    engine: {max_parallel_tasks: 8, cancel_grace_seconds: 5}
    catalog: {default_catalog: main, default_schema: default, catalogs: [main, dev], warehouse: ...}
    storage: {root: file:/mnt/shared/lake}  # warehouse/volumes/dbfs/checkpoints root (any Hadoop URI)
    dbfs: {root: ...}                      # dbfs:/ and /dbfs/ (default .lakeloom/dbfs)
    volumes: {root: ...}                   # /Volumes/<catalog>/<schema>/<volume> (default .lakeloom/volumes)
    jobs: {include: ["pipelines/*/jobs/*.yml", "jobs/*.yml"]}
    plugins: {disable: [name, ...]}
    secrets: {file: ~/.lakeloom/secrets.yml}
    workspace: {id: 1234, url: https://...}
    server: {host: 127.0.0.1, port: 8080, public_url: ..., drain_grace_seconds: 30, warm_spark: true,
             continuous_max_backoff_seconds: 60, trigger_poll_seconds: 10, groups: {...}, entitlements: {...}}
    notifications:
      email: {host: smtp.example.com, port: 587, starttls: true, username: u,
              password: "{{secrets/smtp/password}}", from: lakeloom@example.com}
      destinations:
        ops-slack: {type: slack, url: "{{secrets/slack/webhook}}"}
        audit: {type: webhook, url: https://..., secret: "{{secrets/hooks/audit}}"}
      retry: {max_attempts: 4, backoff_seconds: 1, max_backoff_seconds: 30}
    quality: {results_table: main.lakeloom_quality.results}   # quality_task results (the default)
    governance: {groups: {analysts: [alice]}, admins: [ops]}  # grants (lakeloom.catalog.identity)
    targets:
      prod: {spark: {master: "spark://host:7077"}}

The active target is ``--target`` / ``LAKELOOM_TARGET``; its mapping is deep-merged
over the top level. ``LAKELOOM_STORE_URL`` and ``LAKELOOM_SPARK_MASTER`` override last.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_RELATIVE_PATH = Path("conf") / "lakeloom.yml"
STATE_DIR_NAME = ".lakeloom"
HIVE_METASTORE = "hive_metastore"
"""The legacy catalog every Databricks workspace has; lakeloom always registers it."""


class ConfigError(ValueError):
    """The workspace config file is invalid."""


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass
class Workspace:
    """Paths and settings of one workspace. Cheap to build; creates folders lazily."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    target: str | None = None

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR_NAME

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def stored_path(self, path: Path | str) -> str:
        """How the run store records a file of this workspace: relative to its root, so a moved
        or copied workspace finds its own files (absolute when outside the workspace)."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(p)

    def resolve_stored(self, text: str) -> Path:
        """The file a stored path names in this workspace. Relative paths are under the root;
        absolute ones recorded by older versions inside a ``.lakeloom`` folder are mapped into
        this workspace's, so a moved or copied workspace never reads the old location."""
        p = Path(text)
        if not p.is_absolute():
            return self.root / p
        parts = p.parts
        if STATE_DIR_NAME in parts:
            at = len(parts) - 1 - parts[::-1].index(STATE_DIR_NAME)
            return self.state_dir.joinpath(*parts[at + 1:])
        return p

    @property
    def warehouse_dir(self) -> Path:
        return Path(self.settings.get("catalog", {}).get("warehouse") or self._stored_under("warehouse"))

    @property
    def storage_root(self) -> str | None:
        """``storage.root``: a Hadoop file-system URI (``file:`` on a mount every node sees,
        ``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``) holding the warehouse, checkpoints,
        volumes and DBFS unless each is set itself. A plain path counts as ``file:``."""
        root = (self.settings.get("storage", {}) or {}).get("root")
        if not root:
            return None
        text = str(root).rstrip("/")
        if "://" not in text and not text.startswith("file:"):
            return Path(os.path.expanduser(text)).resolve().as_uri()
        return text

    @property
    def storage_is_local(self) -> bool:
        """Whether the workspace's data lives on a local or mounted file system (no object store)."""
        root = self.storage_root
        return root is None or root.startswith("file:")

    def _stored_under(self, name: str) -> Path:
        root = self.storage_root
        if root is not None and root.startswith("file:"):
            return Path("/" + root[len("file:"):].lstrip("/")) / name
        return self.state_dir / name

    @property
    def warehouse_uri(self) -> str:
        """Where managed tables live, as the URI Spark gets: under an object-store
        ``storage.root`` when one is set, else the local ``warehouse_dir``."""
        if self.settings.get("catalog", {}).get("warehouse") or self.storage_is_local:
            return self.warehouse_dir.resolve().as_uri()
        return f"{self.storage_root}/warehouse"

    @property
    def catalog_dir(self) -> Path:
        """Where the table catalog keeps its metadata (shared by every process)."""
        return self.state_dir / "catalog"

    @property
    def checkpoints_dir(self) -> Path:
        return self._stored_under("checkpoints")

    @property
    def mlflow_dir(self) -> Path:
        """The workspace's MLflow tracking and registry store (``mlflow.db`` and ``artifacts/``)."""
        return Path(self.settings.get("mlflow", {}).get("dir") or self.state_dir / "mlflow")

    @property
    def dbfs_root(self) -> Path:
        return Path(self.settings.get("dbfs", {}).get("root") or self._stored_under("dbfs"))

    @property
    def volumes_root(self) -> Path:
        return Path(self.settings.get("volumes", {}).get("root") or self._stored_under("volumes"))

    def local_path(self, path: str, base: Path | None = None) -> Path:
        """The local file a Databricks path stands for. One mapping for every reader of paths
        (``dbutils.fs``, Auto Loader, pipelines, file-arrival and table-update triggers; Spark's
        own file systems use the same roots):

        - ``dbfs:/a/b`` and ``/dbfs/a/b`` -> ``<dbfs_root>/a/b``
        - ``/Volumes/<catalog>/<schema>/<volume>/a`` (and ``dbfs:/Volumes/...``) ->
          ``<volumes_root>/<catalog>/<schema>/<volume>/a``; whether the volume exists is
          :func:`lakeloom.catalog.volumes.check_volume_path`'s business
        - ``file:/a/b`` -> ``/a/b`` (as Hadoop reads it: no URL decoding); other absolute paths as they are
        - a relative path against ``base`` (default: the workspace folder)

        Raises ValueError for any other scheme (``s3://...``), which has no local file.
        """
        if path.startswith("dbfs:"):
            rest = path[len("dbfs:"):].lstrip("/")
            if rest == "Volumes" or rest.startswith("Volumes/"):  # as Spark's dbfs: file system maps it
                return self.local_path("/" + rest, base)
            return self.dbfs_root / rest
        if path == "/dbfs" or path.startswith("/dbfs/"):
            return self.dbfs_root / path[len("/dbfs"):].lstrip("/")
        if path.startswith("/Volumes/"):
            return self.volumes_root.joinpath(*(p for p in path[len("/Volumes/"):].split("/") if p))
        if path.startswith("file:"):
            return Path("/" + path[len("file:"):].lstrip("/"))
        if "://" in path:
            raise ValueError(f"the scheme of {path!r} is not supported locally (use dbfs:/, /Volumes/, file:/)")
        p = Path(path)
        return p if p.is_absolute() else (base or self.root) / p

    @property
    def store_url(self) -> str:
        url = os.environ.get("LAKELOOM_STORE_URL") or self.settings.get("store", {}).get("url")
        return url or f"sqlite:///{self.state_dir / 'lakeloom.db'}"

    @property
    def spark_master(self) -> str:
        return os.environ.get("LAKELOOM_SPARK_MASTER") or self.settings.get("spark", {}).get("master") or "local[*]"

    @property
    def spark_conf(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.settings.get("spark", {}).get("conf") or {}).items()}

    @property
    def max_parallel_tasks(self) -> int:
        return int(self.settings.get("engine", {}).get("max_parallel_tasks", 8))

    @property
    def default_catalog(self) -> str:
        return self.settings.get("catalog", {}).get("default_catalog", "main")

    @property
    def default_schema(self) -> str:
        return self.settings.get("catalog", {}).get("default_schema", "default")

    @property
    def catalogs(self) -> list[str]:
        """Configured catalogs, the default one first, and ``hive_metastore``, which every Databricks
        workspace has (the CLI's templates target it when a workspace has no Unity Catalog)."""
        names = list(self.settings.get("catalog", {}).get("catalogs", []) or [])
        if self.default_catalog not in names:
            names.insert(0, self.default_catalog)
        if HIVE_METASTORE not in names:
            names.append(HIVE_METASTORE)
        return names

    @property
    def disabled_plugins(self) -> set[str]:
        names = set(self.settings.get("plugins", {}).get("disable", []) or [])
        env = os.environ.get("LAKELOOM_DISABLE_PLUGINS", "")
        names.update(n.strip() for n in env.split(",") if n.strip())
        return names

    @property
    def secrets_file(self) -> Path | None:
        p = self.settings.get("secrets", {}).get("file")
        return Path(os.path.expanduser(p)) if p else None

    @property
    def job_paths(self) -> list[Path]:
        """Folders or globs (relative to the root) searched for job files by `jobs list`."""
        globs = self.settings.get("jobs", {}).get("include") or ["pipelines/*/jobs/*.yml", "jobs/*.yml"]
        found: list[Path] = []
        for g in globs:
            found.extend(sorted(self.root.glob(g)))
        return found

    @property
    def workspace_id(self) -> int:
        """A stable numeric id for ``{{workspace.id}}``: from the config, else derived from the path."""
        configured = self.settings.get("workspace", {}).get("id")
        if configured is not None:
            return int(configured)
        import hashlib

        return int(hashlib.sha1(str(self.root).encode()).hexdigest()[:12], 16)

    @property
    def url(self) -> str:
        """``{{workspace.url}}``: the dashboard's base URL when configured, else the folder as a file URL."""
        return str(self.settings.get("workspace", {}).get("url") or self.root.as_uri())

    # --- serve: server, notifications, secrets ------------------------------------

    @property
    def server(self) -> dict[str, Any]:
        """``server:`` settings (host, port, public_url, drain_grace_seconds, warm_spark, ...)."""
        return dict(self.settings.get("server", {}) or {})

    @property
    def public_url(self) -> str:
        """Base URL of the server, for links in notifications (``server.public_url``)."""
        srv = self.server
        if srv.get("public_url"):
            return str(srv["public_url"]).rstrip("/")
        return f"http://{srv.get('host', '127.0.0.1')}:{srv.get('port', 8080)}"

    @property
    def continuous_max_backoff_seconds(self) -> float:
        """``server.continuous_max_backoff_seconds`` (default 60): the longest wait before a
        continuous job starts again after failed runs."""
        return float(self.server.get("continuous_max_backoff_seconds", 60))

    def run_page_url(self, run_id: int) -> str:
        return f"{self.public_url}/runs/{run_id}"

    @property
    def notifications(self) -> dict[str, Any]:
        """``notifications:`` settings: ``email`` (SMTP for email_notifications), ``destinations``
        (``{id: {type: email|slack|webhook, ...}}`` for webhook_notifications ids) and ``retry``."""
        return dict(self.settings.get("notifications", {}) or {})

    @property
    def notification_destinations(self) -> dict[str, dict[str, Any]]:
        dests = self.notifications.get("destinations", {}) or {}
        if not isinstance(dests, dict):
            raise ConfigError("notifications.destinations must be a mapping of id -> {type: ..., ...}")
        return {str(k): dict(v or {}) for k, v in dests.items()}

    def secret(self, scope: str, key: str) -> str:
        """A secret: ``LAKELOOM_SECRET_<SCOPE>__<KEY>`` or the ``secrets.file`` YAML (as dbutils.secrets)."""
        import re

        def norm(name: str) -> str:
            return re.sub(r"[^A-Za-z0-9]", "_", name).upper()

        env = os.environ.get(f"LAKELOOM_SECRET_{norm(scope)}__{norm(key)}")
        if env is not None:
            return env
        path = self.secrets_file
        if path is not None and path.exists():
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if isinstance(data, dict) and isinstance(data.get("scopes"), dict):
                data = data["scopes"]
            value = (data.get(scope) or {}).get(key) if isinstance(data, dict) else None
            if value is not None:
                return str(value)
        raise ConfigError(f"secret {scope}/{key} not found (set LAKELOOM_SECRET_{norm(scope)}__{norm(key)} "
                          f"or add it to the secrets file)")

    def resolve_secrets(self, value: Any) -> Any:
        """``value`` with ``{{secrets/<scope>/<key>}}`` references replaced by the secrets."""
        if not isinstance(value, str) or "{{secrets/" not in value:
            return value
        import re

        return re.sub(r"\{\{\s*secrets/([^/}]+)/([^}]+?)\s*\}\}",
                      lambda m: self.secret(m.group(1), m.group(2)), value)

    def ensure_state_dir(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir


def load_workspace(root: str | Path | None = None, target: str | None = None) -> Workspace:
    """Build the workspace for ``root`` (default: ``LAKELOOM_WORKSPACE`` or the cwd)."""
    root_path = Path(root or os.environ.get("LAKELOOM_WORKSPACE") or os.getcwd()).resolve()
    target = target or os.environ.get("LAKELOOM_TARGET") or None
    settings: dict[str, Any] = {}
    cfg = root_path / CONFIG_RELATIVE_PATH
    if cfg.exists():
        import yaml

        try:
            loaded = yaml.safe_load(cfg.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{cfg}: invalid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{cfg}: the top level must be a mapping")
        targets = loaded.pop("targets", {}) or {}
        settings = loaded
        if target:
            if target not in targets:
                raise ConfigError(f"{cfg}: unknown target {target!r} (known: {', '.join(targets) or 'none'})")
            settings = _deep_merge(settings, targets[target] or {})
    elif target:
        raise ConfigError(f"target {target!r} requested but {cfg} does not exist")
    return Workspace(root=root_path, settings=settings, target=target)
