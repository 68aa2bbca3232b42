"""Declarative Delta pipelines: Spark Declarative Pipelines / Databricks DLT code on classic Spark.

Pipeline source written for ``from pyspark import pipelines as dp`` or legacy ``import dlt``
(and SQL definitions) runs unmodified: datasets land as Delta tables in the pipeline's
``catalog.schema``, streaming tables update incrementally, expectations are enforced and
counted, Auto CDC applies change events and successive snapshots, and every update is recorded in an event log.

Code that wants an explicit import of the Databricks additions uses::

    from lakeloom.pipelines import expect, expect_or_drop, expect_or_fail, expect_all, ...

Importing this package is cheap (no pyspark); running an update is
:func:`lakeloom.pipelines.runner.run_update`.
"""
from __future__ import annotations

from lakeloom.pipelines.api import (
    apply_changes,
    apply_changes_from_snapshot,
    create_auto_cdc_flow,
    create_auto_cdc_from_snapshot_flow,
    expect,
    expect_all,
    expect_all_or_drop,
    expect_all_or_fail,
    expect_or_drop,
    expect_or_fail,
    read,
    read_stream,
)
from lakeloom.pipelines.expectations import Expectation
from lakeloom.pipelines.model import PipelineDefinitionError
from lakeloom.pipelines.spec import LoadedPipeline, PipelineSpec, load_pipeline, load_pipeline_documents

__all__ = [
    "Expectation",
    "LoadedPipeline",
    "PipelineDefinitionError",
    "PipelineSpec",
    "apply_changes",
    "apply_changes_from_snapshot",
    "create_auto_cdc_flow",
    "create_auto_cdc_from_snapshot_flow",
    "expect",
    "expect_all",
    "expect_all_or_drop",
    "expect_all_or_fail",
    "expect_or_drop",
    "expect_or_fail",
    "load_pipeline",
    "load_pipeline_documents",
    "read",
    "read_stream",
]
