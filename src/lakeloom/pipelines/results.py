"""What one pipeline update did: options in, per-dataset results out (no pyspark)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from lakeloom.pipelines.flows import FlowResult

COMPACT_FIELDS = ("event_type", "level", "dataset", "flow", "status", "rows_written", "message", "error")


@dataclass
class UpdateOptions:
    """What to refresh. With a selection, only the named datasets are updated."""

    full_refresh: bool = False
    refresh_selection: list[str] = field(default_factory=list)
    full_refresh_selection: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class DatasetResult:
    name: str
    kind: str
    status: str = "PENDING"
    rows_written: int = 0
    flows: list[FlowResult] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    schema: str | None = None
    error: str | None = None


@dataclass
class UpdateResult:
    """The outcome of one update (``lakeloom pipeline run`` prints it; pipeline_task returns it)."""

    pipeline: str
    update_id: str
    status: str = "RUNNING"
    datasets: dict[str, DatasetResult] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    #: This update's events (compact: no ``details``), also appended to the event log table.
    events: list[dict[str, Any]] = field(default_factory=list)
    event_log: str | None = None

    def as_output(self) -> dict[str, Any]:
        """A JSON-friendly summary (``pipeline_output`` of a pipeline_task)."""
        return {
            "pipeline": self.pipeline, "update_id": self.update_id, "state": self.status, "error": self.error,
            "duration_seconds": self.seconds, "order": self.order, "event_log": self.events[:500],
            "event_log_path": self.event_log,
            "datasets": {k: {"kind": d.kind, "status": d.status, "rows_written": d.rows_written,
                             "inputs": d.inputs, "error": d.error, "schema": d.schema,
                             "expectations": [_expectation_row(f, e) for f in d.flows if f.metrics
                                              for e in f.expectations]}
                         for k, d in self.datasets.items()},
        }


def _expectation_row(f: FlowResult, e: Any) -> dict[str, Any]:
    assert f.metrics is not None
    failed = f.metrics.failed.get(e.name, 0)
    return {"flow": f.flow, "name": e.name, "action": e.action, "passed_records": f.metrics.rows - failed,
            "failed_records": failed}


class PipelineUpdateFailed(Exception):
    """The update failed; ``result`` has the per-dataset outcome."""

    def __init__(self, message: str, result: UpdateResult) -> None:
        super().__init__(message)
        self.result = result


def iter_results(result: UpdateResult) -> Iterator[DatasetResult]:
    """Dataset results in build order, then any not built."""
    seen = set()
    for name in result.order:
        seen.add(name.lower())
        yield result.datasets[name.lower()]
    for key, d in result.datasets.items():
        if key not in seen:
            yield d
