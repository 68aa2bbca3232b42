"""Task functions that handle a secret the way careless user code does (see test_engine_secrets)."""
from __future__ import annotations

from typing import Any

from lakeloom.runtime.dbutils import dbutils


def leak_upstream() -> dict[str, Any]:
    secret = dbutils.secrets.get("vault", "token")
    dbutils.jobs.taskValues.set("k", secret)
    dbutils.jobs.taskValues.set("nested", {"header": f"Bearer {secret}", "list": [secret]})
    print("upstream sees", secret)
    return {"token": secret}


def use_downstream(p: str) -> dict[str, Any]:
    print("downstream got", p)
    return {"echo": p, "same": p == dbutils.secrets.get("vault", "token")}


def use_without_reading(p: str) -> dict[str, Any]:
    """Never reads the secret itself: only the run knows it is one."""
    print("value", p)
    return {"echo": p, "length": len(p)}


def fail_with(p: str) -> None:
    raise RuntimeError(f"could not log in with {p}")
