"""Spark settings for a session whose executors run in other processes (``spark://``,
``k8s://``, ``yarn``): what a task can reach from the driver must be reachable from them too.

- The catalog jar travels in ``spark.jars`` (the catalog's settings); the ``/Volumes`` /
  ``dbfs:`` file systems' jar also goes on ``spark.executor.extraClassPath``, because Hadoop
  resolves ``fs.file.impl`` from the executor's system class path (it may be asked for
  ``file:`` before the task's jars are fetched). The jar must exist at that path on every node:
  a shared install, or ``lakeloom setup`` run on each node with the same cache folder.
- Python workers use ``spark.pyspark.python`` (the driver's interpreter by default): a shared
  virtual environment or the same path on every node. Task folders and per-task environments
  (``.lakeloom/envs``) reach them through ``PYTHONPATH`` (see
  :class:`lakeloom.runtime.imports.TaskAwareEnvironment`), so the workspace must be on storage
  every node mounts at the same path.
- An object-store ``storage.root`` adds its Hadoop connector jars (fetched into the local
  Maven repository, like the Delta jars) only when it is configured.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from lakeloom.catalog.build import build_fs_jar
from lakeloom.catalog.conf import path_mapping_conf
from lakeloom.runtime.delta_jars import ensure_maven_jars, missing_delta_jars

if TYPE_CHECKING:
    from lakeloom.config import Workspace

HADOOP_VERSION = "3.5.0"
"""The Hadoop client that ships in pyspark 4.2's ``jars/``; connectors must match it."""

AWS_SDK_VERSION = "2.35.4"
"""The AWS SDK v2 that hadoop-aws 3.5.0 is built against."""

#: The SDK v2 modules S3A uses, instead of the ``bundle`` hadoop-aws declares (one shaded jar
#: of ~600 MB): 36 jars, ~13 MB with hadoop-aws. Netty, Apache HttpClient, commons-codec and
#: SLF4J (commons-logging through jcl-over-slf4j) already ship in pyspark's ``jars/``.
AWS_SDK_MODULES: tuple[str, ...] = (
    "annotations", "apache-client", "arns", "auth", "aws-core", "aws-query-protocol", "aws-xml-protocol",
    "checksums", "checksums-spi", "crt-core", "endpoints-spi", "http-auth", "http-auth-aws",
    "http-auth-aws-eventstream", "http-auth-spi", "http-client-spi", "identity-spi", "json-utils",
    "metrics-spi", "netty-nio-client", "profiles", "protocol-core", "regions", "retries", "retries-spi",
    "s3", "s3-transfer-manager", "sdk-core", "sts", "third-party-jackson-core", "utils", "utils-lite",
)

#: Connector artifacts per URI scheme, each fetched alone (none for ``file`` and ``hdfs``:
#: Spark's Hadoop client already has them).
STORAGE_CONNECTORS: dict[str, tuple[str, ...]] = {
    "s3a": (f"org.apache.hadoop:hadoop-aws:{HADOOP_VERSION}",
            "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:1.3.1",
            "software.amazon.eventstream:eventstream:1.0.1", "org.reactivestreams:reactive-streams:1.0.4",
            *(f"software.amazon.awssdk:{m}:{AWS_SDK_VERSION}" for m in AWS_SDK_MODULES)),
    "abfs": (f"org.apache.hadoop:hadoop-azure:{HADOOP_VERSION}",),
    "abfss": (f"org.apache.hadoop:hadoop-azure:{HADOOP_VERSION}",),
    "gs": ("com.google.cloud.bigdataoss:gcs-connector:hadoop3-2.2.26:jar:shaded",),
    "hdfs": (),
    "file": (),
}

#: Fetched with their dependencies first, so that one Maven call fills most of a scheme's jars.
TRANSITIVE_ROOTS: dict[str, tuple[str, ...]] = {
    "s3a": (f"software.amazon.awssdk:s3-transfer-manager:{AWS_SDK_VERSION}",
            f"software.amazon.awssdk:sts:{AWS_SDK_VERSION}"),
}


class StorageConfigError(ValueError):
    """``storage.root`` names a scheme lakeloom has no connector for."""


def storage_scheme(workspace: Workspace) -> str | None:
    """The URI scheme of ``storage.root`` (None when unset)."""
    root = workspace.storage_root
    return urlparse(root).scheme if root else None


def storage_connector_conf(workspace: Workspace) -> dict[str, str]:
    """``spark.jars`` with the connector of an object-store ``storage.root`` (empty otherwise).

    Raises :class:`StorageConfigError` naming ``storage.root`` for an unknown scheme.
    """
    scheme = storage_scheme(workspace)
    if scheme is None:
        return {}
    if scheme not in STORAGE_CONNECTORS:
        raise StorageConfigError(
            f"conf/lakeloom.yml: storage.root {workspace.storage_root!r}: unsupported scheme {scheme!r} "
            f"(use one of: {', '.join(sorted(STORAGE_CONNECTORS))})")
    artifacts = STORAGE_CONNECTORS[scheme]
    if not artifacts:
        return {}
    if scheme in TRANSITIVE_ROOTS and missing_delta_jars(artifacts=artifacts):
        ensure_maven_jars(TRANSITIVE_ROOTS[scheme], transitive=True)
    return {"spark.jars": ",".join(str(p) for p in ensure_maven_jars(artifacts))}


def _driver_host(master: str) -> str | None:
    # A cluster on the loopback interface can only reach a driver that advertises loopback too.
    host = urlparse(master.split(",")[0]).hostname if master.startswith("spark://") else None
    return "127.0.0.1" if host in ("127.0.0.1", "localhost") else None


def cluster_conf(workspace: Workspace, master: str) -> dict[str, str]:
    """The settings a non-local ``master`` needs on top of lakeloom's defaults (see the
    module docstring)."""
    fs_jar = str(build_fs_jar())
    conf = dict(path_mapping_conf(workspace))
    conf["spark.jars"] = fs_jar
    conf["spark.executor.extraClassPath"] = fs_jar
    if host := _driver_host(master):
        conf["spark.driver.host"] = host
        conf["spark.driver.bindAddress"] = host
    return conf
