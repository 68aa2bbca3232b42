"""Objects bound once (by ``databricks.sdk.runtime`` or a notebook namespace) that
resolve the current task on every use: ``spark``, ``sc``, ``sql``, ``table``."""
from __future__ import annotations

from typing import Any, Callable

from lakeloom.plugin_api import current_context


def current_spark() -> Any:
    """The SparkSession of the task running on this thread.

    Outside a task, the active SparkSession (one the caller created); lakeloom never
    creates a session here.
    """
    ctx = current_context()
    if ctx is not None:
        return ctx.spark
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession() or getattr(SparkSession, "_instantiatedSession", None)
    if session is None:
        raise RuntimeError("`spark` is the running lakeloom task's session; outside a task there is "
                           "no active SparkSession (create one, or run the code with `lakeloom run`)")
    return session


class LazyProxy:
    """Forwards every attribute to the object ``resolve()`` returns at that moment.

    ``isinstance(proxy, SparkSession)`` holds (``__class__`` reports the target's
    class), so libraries that type-check their session argument accept it.
    """

    __slots__ = ("_lakeloom_resolve", "_lakeloom_name")

    def __init__(self, resolve: Callable[[], Any], name: str) -> None:
        object.__setattr__(self, "_lakeloom_resolve", resolve)
        object.__setattr__(self, "_lakeloom_name", name)

    def _lakeloom_target(self) -> Any:
        return self._lakeloom_resolve()

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105
        try:
            return type(self._lakeloom_resolve())
        except Exception:  # no task and no session: report the proxy's own class
            return LazyProxy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lakeloom_resolve(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._lakeloom_resolve(), name, value)

    def __dir__(self) -> list[str]:
        try:
            return dir(self._lakeloom_resolve())
        except Exception:
            return []

    def __repr__(self) -> str:
        try:
            return repr(self._lakeloom_resolve())
        except Exception:
            return f"<lakeloom {self._lakeloom_name} proxy (no session)>"

    def __eq__(self, other: Any) -> bool:
        target = self._lakeloom_resolve()
        return target is other or target == (other._lakeloom_resolve() if type(other) is LazyProxy else other)

    def __hash__(self) -> int:
        return hash(self._lakeloom_resolve())

    def __enter__(self) -> Any:
        return self._lakeloom_resolve().__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._lakeloom_resolve().__exit__(*exc)


spark: Any = LazyProxy(current_spark, "spark")
sc: Any = LazyProxy(lambda: current_spark().sparkContext, "sc")


def sql(sqlQuery: str, args: Any = None, **kwargs: Any) -> Any:
    """``spark.sql`` on the current task's session."""
    return current_spark().sql(sqlQuery, args, **kwargs)


def table(tableName: str) -> Any:
    """``spark.table`` on the current task's session."""
    return current_spark().table(tableName)


def udf(*args: Any, **kwargs: Any) -> Any:
    """``pyspark.sql.functions.udf`` (imported on first use)."""
    from pyspark.sql.functions import udf as _udf

    return _udf(*args, **kwargs)
