"""Fixtures of the store tests: a real PostgreSQL server for the whole session (started on first use)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "engine"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from postgres import INSTALL_HINT, PostgresCluster, find_bindir  # noqa: E402


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway cluster (initdb + pg_ctl on 127.0.0.1) for the session; missing binaries fail."""
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("the psycopg driver is missing: pip install -e '.[dev]' (or '.[postgres]')", pytrace=False)
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(postgres_cluster: PostgresCluster) -> str:
    """The URL of a fresh, empty database of the session's cluster."""
    return postgres_cluster.create_database()
