"""lakeloom's stand-in for the Databricks runtime's ``dbruntime`` package.

Only what ``databricks.sdk.runtime`` and ``databricks.sdk.WorkspaceClient`` import
is provided: ``UserNamespaceInitializer.getOrCreate().get_namespace_globals()``.
The objects are lakeloom's per-task proxies (see ``lakeloom.runtime.dbutils``).
"""
from __future__ import annotations

from typing import Any

IS_LAKELOOM_SHIM = True


class UserNamespaceInitializer:
    """The singleton the SDK asks for the notebook namespace."""

    _instance: UserNamespaceInitializer | None = None

    @classmethod
    def getOrCreate(cls) -> UserNamespaceInitializer:
        """The process-wide instance."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def get_namespace_globals(self) -> dict[str, Any]:
        """``spark``, ``sc``, ``dbutils``, ``display``, ... bound to lakeloom's proxies."""
        from lakeloom.runtime.dbutils import namespace_globals

        return namespace_globals()
