"""Shared fixtures. One SparkSession serves the whole pytest session (startup dominates)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from lakeloom.config import Workspace

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Every `lakeloom` process a test starts runs cold and starts no daemon; the daemon tests
# turn warm runs on for their own processes (and stop the daemon they start).
os.environ["LAKELOOM_DAEMON"] = "0"

# Every JVM of the suite (the session's, each `lakeloom` child's, spark-submit's, the standalone
# cluster's) runs tiny workloads for seconds to minutes, where C2 compilation and parallel GC
# threads only compete for the 2 cores: the C1 JIT and the serial collector make the suite
# markedly faster. Only the JIT tier and the collector change, never what Spark computes.
# C1 alone gets a 48 MB code cache, which the suite's one long-lived session fills (the JVM then
# stops compiling and runs interpreted: seen during the cluster suite's in-process demo run).
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=240m")

SPARK_TEST_SETTINGS = {
    "spark": {"master": "local[2]"},
    "catalog": {"catalogs": ["main", "dev"]},
}


@pytest.fixture(scope="session")
def spark_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The workspace behind the session-wide ``spark`` fixture (catalogs ``main`` and ``dev``)."""
    return Workspace(root=tmp_path_factory.mktemp("spark-workspace"), settings=SPARK_TEST_SETTINGS)


@pytest.fixture(scope="session")
def spark(spark_workspace: Workspace) -> Iterator[SparkSession]:
    """The one SparkSession of the test run, with Delta and lakeloom's catalogs.

    Tests must leave it as they found it: current catalog ``main``, schema ``default``.
    """
    from lakeloom.runtime.spark import SparkSessionProvider

    provider = SparkSessionProvider(spark_workspace, app_name="lakeloom-tests")
    session = provider.get()
    yield session
    provider.stop()
