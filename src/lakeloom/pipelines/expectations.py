"""Expectations: data-quality constraints on a flow's rows (warn, drop, or fail).

A constraint is a SQL boolean expression. A row passes when the expression is true; false
and NULL both count as a violation. Counting happens in the same pass as the write
(``DataFrame.observe``), dropping is a filter, and ``fail`` makes the write job itself
raise (``raise_error``) so the Delta commit never happens and the target is unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

Action = Literal["warn", "drop", "fail"]
VIOLATION_MARK = "LAKELOOM_EXPECTATION_VIOLATION"
_ROWS = "__ll_rows"
_DROPPED = "__ll_dropped"


@dataclass(frozen=True)
class Expectation:
    """One named constraint and what to do with rows that violate it."""

    name: str
    constraint: str
    action: Action = "warn"

    def describe(self) -> str:
        return f"{self.name!r} ({self.constraint})"


@dataclass
class ExpectationMetrics:
    """Counts of one flow's update: rows in, rows dropped, failed rows per expectation."""

    rows: int = 0
    dropped: int = 0
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, other: ExpectationMetrics) -> None:
        self.rows += other.rows
        self.dropped += other.dropped
        for k, v in other.failed.items():
            self.failed[k] = self.failed.get(k, 0) + v

    def as_event(self, expectations: list[Expectation], dataset: str) -> dict[str, Any]:
        """The ``data_quality`` block of a ``flow_progress`` event (Databricks' shape)."""
        return {
            "dropped_records": self.dropped,
            "expectations": [
                {"name": e.name, "dataset": dataset, "constraint": e.constraint, "action": e.action,
                 "passed_records": self.rows - self.failed.get(e.name, 0),
                 "failed_records": self.failed.get(e.name, 0)}
                for e in expectations
            ],
        }


def from_mapping(mapping: dict[str, str], action: Action, *, where: str) -> list[Expectation]:
    """``expect_all``-style ``{name: constraint}`` into expectations; errors name ``where``."""
    if not isinstance(mapping, dict) or not mapping:
        raise TypeError(f"{where}: expect_all* takes a non-empty dict of {{name: constraint}}")
    return [checked(Expectation(str(k), v, action), where=where) for k, v in mapping.items()]


def checked(e: Expectation, *, where: str) -> Expectation:
    if not isinstance(e.constraint, str) or not e.constraint.strip():
        raise TypeError(f"{where}: expectation {e.name!r} needs a SQL boolean expression string")
    if not e.name:
        raise TypeError(f"{where}: an expectation needs a name")
    return e


def _ok(e: Expectation) -> Column:
    from pyspark.sql import functions as F

    return F.coalesce(F.expr(e.constraint), F.lit(False))


def _metric_exprs(expectations: list[Expectation]) -> list[Column]:
    from pyspark.sql import functions as F

    metrics = [F.count(F.lit(1)).alias(_ROWS)]
    for i, e in enumerate(expectations):
        metrics.append(F.sum(F.when(_ok(e), 0).otherwise(1)).alias(f"f{i}"))
    drops = [e for e in expectations if e.action == "drop"]
    if drops:
        metrics.append(F.sum(F.when(_all_ok(drops), 0).otherwise(1)).alias(_DROPPED))
    return metrics


def _all_ok(expectations: list[Expectation]) -> Column:
    ok = _ok(expectations[0])
    for e in expectations[1:]:
        ok = ok & _ok(e)
    return ok


def check_expectations(df: DataFrame, expectations: list[Expectation], *, dataset: str, flow: str) -> None:
    """Raise ValueError naming the dataset and expectation when a constraint does not analyze."""
    for e in expectations:
        if _fails_alone(df, e):
            try:
                df.select(_ok(e))
            except Exception as err:  # noqa: BLE001 - Spark names the unknown column
                raise ValueError(f"dataset {dataset!r} (flow {flow!r}): expectation {e.describe()} is invalid: "
                                 f"{_first_line(err)}") from None


def apply_expectations(df: DataFrame, expectations: list[Expectation], *, dataset: str, flow: str,
                       observe_rows: bool = False) -> DataFrame:
    """``df`` with every expectation enforced in the same pass as the write (streaming flows).

    Metrics are observed under the name :func:`obs_name` (read back from the query progress);
    a ``fail`` expectation makes the write job raise, so nothing is committed. Without
    expectations ``df`` is returned as is, unless ``observe_rows`` asks for its row count anyway.
    """
    from pyspark.sql import functions as F

    if not expectations and not observe_rows:
        return df
    check_expectations(df, expectations, dataset=dataset, flow=flow)
    out = df.observe(obs_name(flow), *_metric_exprs(expectations))
    for e in expectations:
        if e.action == "fail":
            record = F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns]))
            message = F.concat(F.lit(f"{VIOLATION_MARK}: expectation {e.describe()} failed on dataset "
                                     f"{dataset!r} (flow {flow!r}); record: "), record, F.lit(" ;END"))
            out = out.where(F.when(_ok(e), F.lit(True)).otherwise(F.raise_error(message).cast("boolean")))
    drops = [e for e in expectations if e.action == "drop"]
    return out.where(_all_ok(drops)) if drops else out


def measure_expectations(df: DataFrame, expectations: list[Expectation], *, dataset: str,
                         flow: str) -> tuple[DataFrame, ExpectationMetrics]:
    """Batch flows: count violations of (preferably cached) ``df`` in one job, fail before
    anything is written when a ``fail`` expectation is violated, return the rows to write."""
    from pyspark.sql import functions as F

    check_expectations(df, expectations, dataset=dataset, flow=flow)
    row = df.agg(*_metric_exprs(expectations)).first()
    metrics = metrics_from_row(row.asDict() if row is not None else {}, expectations)
    for e in expectations:
        if e.action == "fail" and metrics.failed.get(e.name):
            sample = df.where(~_ok(e)).select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns]))).first()
            raise ExpectationFailed(f"expectation {e.describe()} failed on {metrics.failed[e.name]} of "
                                    f"{metrics.rows} rows of dataset {dataset!r} (flow {flow!r}); "
                                    f"first record: {sample[0] if sample else '?'}")
    drops = [e for e in expectations if e.action == "drop"]
    return (df.where(_all_ok(drops)) if drops else df), metrics


class ExpectationFailed(Exception):
    """A ``fail`` expectation was violated; nothing was written."""


def _fails_alone(df: DataFrame, e: Expectation) -> bool:
    try:
        df.select(_ok(e))
        return False
    except Exception:
        return True


def obs_name(flow: str) -> str:
    return "ll_expect_" + re.sub(r"[^A-Za-z0-9_]", "_", flow)


def metrics_from_row(row: dict[str, Any] | None, expectations: list[Expectation]) -> ExpectationMetrics:
    """Turn one observed-metrics row (batch ``Observation.get`` or a streaming progress) into counts."""
    row = row or {}
    failed = {e.name: int(row.get(f"f{i}") or 0) for i, e in enumerate(expectations)}
    return ExpectationMetrics(int(row.get(_ROWS) or 0), int(row.get(_DROPPED) or 0), failed)


def violation_message(err: BaseException) -> str | None:
    """The expectation message inside a Spark error raised by a ``fail`` expectation, if any."""
    text = str(err)
    i = text.find(VIOLATION_MARK)
    if i < 0:
        return None
    end = text.find(" ;END", i)
    return "expectation violated: " + text[i + len(VIOLATION_MARK) + 2: end if end > 0 else None].strip()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


_CONSTRAINT = re.compile(
    r"^\s*CONSTRAINT\s+(`[^`]+`|\w+)\s+EXPECT\s*\((?P<cond>.*)\)\s*"
    r"(?:ON\s+VIOLATION\s+(?P<act>DROP\s+ROW|FAIL\s+UPDATE))?\s*$", re.IGNORECASE | re.DOTALL)


def parse_sql_constraint(text: str, *, where: str) -> Expectation | None:
    """``CONSTRAINT name EXPECT (cond) [ON VIOLATION DROP ROW | FAIL UPDATE]`` or None if ``text``
    is not a constraint clause."""
    if not re.match(r"^\s*CONSTRAINT\b", text, re.IGNORECASE):
        return None
    m = _CONSTRAINT.match(text)
    if not m:
        raise ValueError(f"{where}: cannot parse constraint {text.strip()!r} "
                         "(expected CONSTRAINT name EXPECT (cond) [ON VIOLATION DROP ROW | FAIL UPDATE])")
    act = (m.group("act") or "").upper().split()
    action: Action = "drop" if act[:1] == ["DROP"] else "fail" if act[:1] == ["FAIL"] else "warn"
    return Expectation(m.group(1).strip("`"), m.group("cond").strip(), action)
