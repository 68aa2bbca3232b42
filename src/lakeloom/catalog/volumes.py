"""``/Volumes/<catalog>/<schema>/<volume>/...`` paths from Python, checked as Unity Catalog does.

A volume path is usable only when its volume exists (``CREATE VOLUME`` wrote its record into the
catalog store, see :mod:`lakeloom.catalog.listing`); otherwise the access fails with
Databricks' ``[UC_VOLUME_NOT_FOUND]`` error; with governance on, the principal needs READ VOLUME
(and WRITE VOLUME to write) or fails with ``[INSUFFICIENT_PERMISSIONS]``. Above the volume level (``/Volumes/<catalog>``,
``/Volumes/<catalog>/<schema>``) paths can be listed but nothing can be written.

Python readers of Databricks paths (``dbutils.fs``, Auto Loader's source and schema location,
pipeline storage) call :func:`volume_local_path`; Spark's own accesses are checked by the
path-mapping file systems (``jvm/fs``), which read the same records. Each check is one ``stat``
of the record: a volume created or dropped by another process is seen at once.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom.catalog.listing import VolumeInfo, get_volume, volume_record_path

if TYPE_CHECKING:
    from lakeloom.config import Workspace

_PREFIXES = ("/Volumes/", "dbfs:/Volumes/", "dbfs:///Volumes/")
_cache: dict[Path, tuple[int, int, int, VolumeInfo]] = {}


class VolumeAccessError(Exception):
    """A volume path that cannot be used, with Databricks' error condition and SQLSTATE.

    Offers pyspark's ``getCondition()`` / ``getSqlState()`` / ``getMessageParameters()``, so code
    that inspects Spark errors reads it the same way.
    """

    condition = "INTERNAL_ERROR"
    sqlstate = "XX000"

    def __init__(self, text: str, parameters: dict[str, str] | None = None) -> None:
        super().__init__(f"[{self.condition}] {text} SQLSTATE: {self.sqlstate}")
        self.parameters = dict(parameters or {})

    def getCondition(self) -> str:  # noqa: N802 - pyspark's name
        """The error condition (``UC_VOLUME_NOT_FOUND``, ...)."""
        return self.condition

    def getSqlState(self) -> str:  # noqa: N802 - pyspark's name
        """The SQLSTATE."""
        return self.sqlstate

    def getMessageParameters(self) -> dict[str, str]:  # noqa: N802 - pyspark's name
        """The values the message was built from."""
        return dict(self.parameters)


class VolumeNotFoundError(VolumeAccessError):
    """``[UC_VOLUME_NOT_FOUND]``: the path names a volume that does not exist."""

    condition = "UC_VOLUME_NOT_FOUND"
    sqlstate = "42704"

    def __init__(self, catalog: str, schema: str, volume: str) -> None:
        name = ".".join(f"`{p}`" for p in (catalog, schema, volume))
        super().__init__(f"Volume {name} does not exist. Please use 'SHOW VOLUMES' to list available volumes.",
                         {"volumeName": name})


class VolumePermissionError(VolumeAccessError, PermissionError):
    """``[INSUFFICIENT_PERMISSIONS]``: the principal lacks READ VOLUME / WRITE VOLUME (or USE ...)."""

    condition = "INSUFFICIENT_PERMISSIONS"
    sqlstate = "42501"

    def __init__(self, sentence: str) -> None:
        super().__init__(f"Insufficient privileges: {sentence}")


class NotAVolumePathError(VolumeAccessError, ValueError):
    """A write above the volume level (``/Volumes/<catalog>/<schema>/file``)."""

    condition = "INVALID_VOLUME_PATH"
    sqlstate = "42K05"

    def __init__(self, path: str) -> None:
        super().__init__(f"{path!r} is not inside a volume: write under /Volumes/<catalog>/<schema>/<volume>/...",
                         {"path": path})


def volume_path_parts(path: str) -> list[str] | None:
    """The parts after ``/Volumes/`` of a volume path (also ``dbfs:/Volumes/...``), else ``None``."""
    for prefix in _PREFIXES:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return [p for p in path[len(prefix):].split("/") if p]
    return None


def find_volume(workspace: Workspace, catalog: str, schema: str, volume: str) -> VolumeInfo | None:
    """The volume's record, re-validated with one ``stat`` (parsed records are cached)."""
    record = volume_record_path(workspace, catalog, schema, volume)
    try:
        st = os.stat(record)
    except (FileNotFoundError, NotADirectoryError):
        _cache.pop(record, None)
        return None
    hit = _cache.get(record)
    if hit is not None and hit[:3] == (st.st_ino, st.st_mtime_ns, st.st_size):
        return hit[3]
    try:
        info = get_volume(workspace, catalog, schema, volume)
    except (ValueError, json.JSONDecodeError):
        info = None
    if info is None:
        return None
    _cache[record] = (st.st_ino, st.st_mtime_ns, st.st_size, info)
    return info


def check_volume_path(workspace: Workspace, path: str, *, write: bool = False,
                      principal: str | None = None) -> VolumeInfo | None:
    """Raise if ``path`` is a volume path that may not be used; returns its volume (``None`` for
    paths outside volumes and for reads above the volume level). With a ``principal`` (and
    governance on) it must hold USE CATALOG, USE SCHEMA and READ VOLUME, plus WRITE VOLUME to
    write, as Unity Catalog requires (:mod:`lakeloom.catalog.grants`)."""
    parts = volume_path_parts(path)
    if parts is None:
        return None
    if len(parts) < 3:
        if write:
            raise NotAVolumePathError(path)
        return None
    info = find_volume(workspace, *parts[:3])
    if info is None:
        raise VolumeNotFoundError(*(p.lower() for p in parts[:3]))
    if principal is not None and governance_enabled(workspace):
        _check_privileges(workspace, info, principal, write)
    return info


def governance_enabled(workspace: Workspace) -> bool:
    """Whether grants are enforced (``spark.lakeloom.governance.enabled`` is not ``false``)."""
    return str(workspace.spark_conf.get("spark.lakeloom.governance.enabled", "true")).lower() != "false"


def _check_privileges(workspace: Workspace, info: VolumeInfo, principal: str, write: bool) -> None:
    from lakeloom.catalog import audit
    from lakeloom.catalog.grants import GrantStore, PermissionDenied, Securable

    securable = Securable("VOLUME", (info.catalog, info.schema, info.name))
    operation = "WRITE_VOLUME" if write else "READ_VOLUME"
    params = {"volume_full_name": info.full_name, "operation": operation}
    store = GrantStore(workspace)
    try:
        for privilege in ("READ_VOLUME", "WRITE_VOLUME") if write else ("READ_VOLUME",):
            store.check(principal, privilege, securable)
    except PermissionDenied as e:
        error = VolumePermissionError(str(e))
        audit.log(workspace, "generateTemporaryVolumeCredential", principal, params, 403, str(error))
        raise error from None


def volume_local_path(workspace: Workspace, path: str, base: Path | None = None, *, write: bool = False,
                      principal: str | None = None) -> Path:
    """:meth:`Workspace.local_path` for a path whose volume (if it names one) may be used."""
    check_volume_path(workspace, path, write=write, principal=principal)
    return workspace.local_path(path, base)
