"""Flow retries: a failed flow runs again before its update gives up on it, as SDP does.

Spark's ``TriggeredGraphExecution`` retries a failed flow up to
``spark.sql.pipelines.maxFlowRetryAttempts`` times (a pipeline setting that a flow's own
``spark_conf`` overrides), waiting ``min(maxRetryTime, 2^(n-1) * minRetryTime)`` before the
n-th retry (``spark.sql.pipelines.execution.watchdog.minRetryTime`` / ``maxRetryTime``,
seconds); downstream datasets are skipped only once the retries are used up. Databricks
names the setting ``pipelines.maxFlowRetryAttempts``; both keys are read.

lakeloom's default is no retry (Spark's is 2, Databricks' development mode retries
nothing): a local update fails at once, where its author looks. Failures that cannot pass
on a second try are never retried: a pipeline definition error, a failed upstream dataset,
an ``expect_or_fail`` violation and a cancelled update.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lakeloom.pipelines.model import PipelineDefinitionError, int_setting

#: Spark's setting and Databricks' name for it (pipeline ``configuration`` or a flow's ``spark_conf``).
RETRIES_CONF = "spark.sql.pipelines.maxFlowRetryAttempts"
RETRIES_SETTING = "pipelines.maxFlowRetryAttempts"
MIN_WAIT_CONF = "spark.sql.pipelines.execution.watchdog.minRetryTime"
MAX_WAIT_CONF = "spark.sql.pipelines.execution.watchdog.maxRetryTime"
DEFAULT_RETRIES = 0
DEFAULT_MIN_WAIT = 5.0
DEFAULT_MAX_WAIT = 3600.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RetryPolicy:
    """How often one flow may run again after failing, and how long to wait before each retry."""

    retries: int = DEFAULT_RETRIES
    min_wait: float = DEFAULT_MIN_WAIT
    max_wait: float = DEFAULT_MAX_WAIT

    def wait_before(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return min(self.max_wait, (2 ** (retry - 1)) * self.min_wait)


def _count(raw: str, where: str) -> int:
    return int_setting(raw, where, minimum=0, expected="a whole number of retries")


def _seconds(raw: str, where: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(raw).lower())
    if m is None or m.group(2) not in ("", *_UNITS):
        raise PipelineDefinitionError(f"{where}: expected a duration such as 5 or 5s, got {raw!r}")
    return float(m.group(1)) * _UNITS.get(m.group(2), 1.0)


def retry_policy(flow_conf: Mapping[str, object], configuration: Mapping[str, str],
                 session_conf: Callable[[str], str | None]) -> RetryPolicy:
    """The policy of one flow: its ``spark_conf`` first, then the pipeline's ``configuration``,
    then the session's settings. Raises PipelineDefinitionError for a malformed value."""

    def lookup(*keys: str) -> tuple[str, str] | None:
        for source, where in ((flow_conf, "flow spark_conf"), (configuration, "configuration")):
            for key in keys:
                if key in source and source[key] is not None:
                    return str(source[key]), f"{where} {key}"
        for key in keys:
            value = session_conf(key)
            if value is not None:
                return value, f"Spark setting {key}"
        return None

    retries = lookup(RETRIES_SETTING, RETRIES_CONF)
    low = lookup(MIN_WAIT_CONF)
    high = lookup(MAX_WAIT_CONF)
    min_wait = _seconds(*low) if low else DEFAULT_MIN_WAIT
    if min_wait < 1:  # Spark's own check of the setting
        raise PipelineDefinitionError(f"{low[1] if low else MIN_WAIT_CONF}: Watchdog minimum retry time must be "
                                      "at least 1 second.")
    return RetryPolicy(_count(*retries) if retries else DEFAULT_RETRIES, min_wait,
                       _seconds(*high) if high else DEFAULT_MAX_WAIT)


def retryable(error: BaseException, cancel: threading.Event | None) -> bool:
    """Whether a flow that failed with ``error`` may run again."""
    from lakeloom.pipelines.expectations import ExpectationFailed, violation_message
    from lakeloom.pipelines.flows import FlowError
    from lakeloom.pipelines.graph import UpstreamFailed

    if cancel is not None and cancel.is_set():
        return False
    if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit
        return False
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (PipelineDefinitionError, UpstreamFailed, ExpectationFailed)) \
                or violation_message(seen) is not None:
            return False
        if isinstance(seen, FlowError) and str(seen).startswith(("expectation violated", "cancelled")):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


def wait(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep ``seconds`` unless the update is cancelled meanwhile; False when it was."""
    if seconds <= 0:
        return not (cancel is not None and cancel.is_set())
    if cancel is None:
        threading.Event().wait(seconds)
        return True
    return not cancel.wait(seconds)
