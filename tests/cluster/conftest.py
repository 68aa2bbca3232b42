"""ONE real Spark standalone cluster for the cluster tests: a master and two workers, each its
own JVM on 127.0.0.1 (1 core / 1 GiB per worker), started with ``lakeloom cluster start``.

lakeloom runs on it are subprocesses: the test process already holds the suite's local
SparkSession, and a process has one SparkContext. The cluster is always torn down (fixture
finalizer, and atexit if the session dies before it runs).
"""
from __future__ import annotations

import atexit
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_helpers import lakeloom
from lakeloom.runtime.standalone import ClusterInfo, load_info, stop


@pytest.fixture(scope="session")
def cluster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace folder whose ``.lakeloom/cluster`` holds the cluster's state and logs."""
    return tmp_path_factory.mktemp("cluster-home")


@pytest.fixture(scope="session")
def standalone_cluster(cluster_home: Path) -> Iterator[ClusterInfo]:
    """The running two-worker cluster."""
    state = cluster_home / ".lakeloom" / "cluster"
    atexit.register(stop, state)
    try:
        proc = lakeloom("--workspace", str(cluster_home), "cluster", "start", "--workers", "2", "--cores", "1",
                        "--memory", "1g", "--port", "0", timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        info = load_info(state)
        assert info is not None
        yield info
    finally:
        stop(state)
