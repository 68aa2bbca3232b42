"""Settings of ``sql_task`` (Jobs API field names) and alert evaluation."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakeloom.spec.parameters import coerce_param_map

AlertState = Literal["OK", "TRIGGERED", "UNKNOWN"]

_OPS = {
    "GREATER_THAN": "GREATER_THAN", ">": "GREATER_THAN",
    "GREATER_THAN_OR_EQUAL": "GREATER_THAN_OR_EQUAL", ">=": "GREATER_THAN_OR_EQUAL",
    "LESS_THAN": "LESS_THAN", "<": "LESS_THAN",
    "LESS_THAN_OR_EQUAL": "LESS_THAN_OR_EQUAL", "<=": "LESS_THAN_OR_EQUAL",
    "EQUAL": "EQUAL", "EQUAL_TO": "EQUAL", "==": "EQUAL", "=": "EQUAL",
    "NOT_EQUAL": "NOT_EQUAL", "!=": "NOT_EQUAL", "<>": "NOT_EQUAL",
    "IS_NULL": "IS_NULL",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SqlFile(_Model):
    """``sql_task.file``: a ``.sql`` file, relative to the job file's folder."""

    path: str
    source: Literal["WORKSPACE", "GIT"] | None = None


class SqlQuery(_Model):
    """``sql_task.query``: inline text (lakeloom's stand-in for a saved query)."""

    query: str | None = None
    query_id: str | None = None


def _shorthand(value: Any, key: str) -> Any:
    return {key: value} if isinstance(value, str) else value


class AlertCondition(_Model):
    """``{column, op, threshold}``: TRIGGERED when ``first_row[column] <op> threshold``."""

    column: str
    op: str
    threshold: Any = None

    @field_validator("op")
    @classmethod
    def _known_op(cls, v: str) -> str:
        op = _OPS.get(v.strip().upper())
        if op is None:
            raise ValueError(f"unknown alert op {v!r} (one of {', '.join(sorted(set(_OPS.values())))})")
        return op


class SqlAlert(_Model):
    """``sql_task.alert``: a query (inline or file) and a condition on its first row."""

    query: SqlQuery | None = None
    file: SqlFile | None = None
    condition: AlertCondition | None = None
    empty_result_state: AlertState = "UNKNOWN"
    alert_id: str | None = None
    subscriptions: list[dict[str, Any]] = Field(default_factory=list)
    pause_subscriptions: bool = False

    _q = field_validator("query", mode="before")(lambda v: _shorthand(v, "query"))
    _f = field_validator("file", mode="before")(lambda v: _shorthand(v, "path"))

    @model_validator(mode="after")
    def _complete(self) -> SqlAlert:
        if self.alert_id and not (self.query or self.file):
            raise ValueError("saved alerts (alert_id) are not supported locally: give the alert a query or file "
                             "and a condition")
        if bool(self.query) == bool(self.file):
            raise ValueError("alert needs exactly one of query, file")
        if self.condition is None:
            raise ValueError("alert needs a condition {column, op, threshold}")
        return self


class SqlTaskSettings(_Model):
    """``sql_task``: exactly one of ``query``, ``file``, ``alert``; ``warehouse_id`` is ignored."""

    warehouse_id: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    query: SqlQuery | None = None
    file: SqlFile | None = None
    alert: SqlAlert | None = None
    dashboard: dict[str, Any] | None = None

    _q = field_validator("query", mode="before")(lambda v: _shorthand(v, "query"))
    _f = field_validator("file", mode="before")(lambda v: _shorthand(v, "path"))

    @field_validator("parameters", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        return coerce_param_map(v)

    @model_validator(mode="after")
    def _exactly_one(self) -> SqlTaskSettings:
        kinds = [k for k in ("query", "file", "alert", "dashboard") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"sql_task needs exactly one of query, file, alert (got {', '.join(kinds) or 'none'})")
        if self.dashboard is not None:
            raise ValueError("sql_task.dashboard is not supported locally")
        q = self.query or (self.alert.query if self.alert else None)
        if q is not None and not q.query:
            raise ValueError("saved queries (query_id) are not supported locally: put the SQL in query.query "
                             "or in a file")
        return self

    def sql_source(self, base_dir: Path) -> tuple[str, str, Path | None]:
        """``(sql_text, label, file_or_None)``; the label names the file or the inline query."""
        q = self.query or (self.alert.query if self.alert else None)
        f = self.file or (self.alert.file if self.alert else None)
        if q is not None:
            return q.query or "", "sql_task query", None
        assert f is not None
        path = Path(f.path).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            return path.read_text(encoding="utf-8"), f"sql_task file {f.path}", path
        except OSError as e:
            raise FileNotFoundError(f"sql_task file {f.path!r}: cannot read {path}: {e.strerror or e}") from None


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def evaluate_alert(alert: SqlAlert, first_row: dict[str, Any] | None) -> AlertState:
    """OK or TRIGGERED from the first row; ``empty_result_state`` for no rows;
    UNKNOWN for a NULL value compared with a threshold."""
    cond = alert.condition
    assert cond is not None
    if first_row is None:
        return alert.empty_result_state
    if cond.column not in first_row:
        raise KeyError(f"alert column {cond.column!r} is not in the query result (columns: {', '.join(first_row)})")
    value = first_row[cond.column]
    if cond.op == "IS_NULL":
        return "TRIGGERED" if value is None else "OK"
    if value is None:
        return "UNKNOWN"
    a, b = _number(value), _number(cond.threshold)
    left, right = (a, b) if a is not None and b is not None else (str(value), str(cond.threshold))
    hit = {
        "GREATER_THAN": lambda: left > right, "GREATER_THAN_OR_EQUAL": lambda: left >= right,
        "LESS_THAN": lambda: left < right, "LESS_THAN_OR_EQUAL": lambda: left <= right,
        "EQUAL": lambda: left == right, "NOT_EQUAL": lambda: left != right,
    }[cond.op]()
    return "TRIGGERED" if hit else "OK"
