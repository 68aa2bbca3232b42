"""Dataset parameters: ``:keyword`` markers bound by Spark, never spliced into the SQL.

Range parameters are written ``:keyword.min`` / ``:keyword.max`` in Databricks; Spark's
parameter markers cannot contain a dot, so they become ``:keyword__min`` / ``__max``.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

from lakeloom.plugins.dashboards.model import Dataset, Parameter

_RANGE_MARKER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)\.(min|max)\b")


class ParameterError(ValueError):
    """A parameter value does not fit its ``dataType``."""


_RELATIVE = re.compile(r"^now((?:[+-]\d+[smhdwMy])*)(?:/([smhdwMy]))?$")
_STEP = re.compile(r"([+-])(\d+)([smhdwMy])")


def relative_time(value: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """Lakeview's relative date values (``now``, ``now-60d/d``, ``now/d``, ``now-1M/M``):
    ``now`` plus or minus amounts of s/m/h/d/w/M/y, then rounded down to the start of a unit;
    None when ``value`` is not one."""
    m = _RELATIVE.match(value.strip())
    if m is None:
        return None
    t = now or dt.datetime.now()
    for sign, amount, unit in _STEP.findall(m.group(1)):
        n = int(amount) * (1 if sign == "+" else -1)
        if unit in "My":
            months = t.year * 12 + t.month - 1 + (n if unit == "M" else 12 * n)
            year, month = divmod(months, 12)
            t = t.replace(year=year, month=month + 1, day=min(t.day, _days_in(year, month + 1)))
        else:
            t += dt.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n})
    unit = m.group(2)
    if unit:
        t = t.replace(microsecond=0)
        if unit != "s":
            t = t.replace(second=0)
        if unit not in "sm":
            t = t.replace(minute=0)
        if unit not in "smh":
            t = t.replace(hour=0)
        if unit == "w":
            t -= dt.timedelta(days=t.weekday())
        if unit in "My":
            t = t.replace(day=1)
        if unit == "y":
            t = t.replace(month=1)
    return t


def _days_in(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day


def convert(data_type: str, value: Any) -> Any:
    """A Python value of the parameter's type (what Spark turns into a typed literal); DATE
    and DATETIME values may be relative (``now-60d/d``, see :func:`relative_time`)."""
    if value is None or not isinstance(value, str):
        return value
    kind = data_type.upper()
    if kind in ("DATE", "DATETIME", "TIMESTAMP"):
        moment = relative_time(value)
        if moment is not None:
            return moment.date() if kind == "DATE" else moment
    try:
        if kind in ("INTEGER", "BIGINT", "INT", "LONG"):
            return int(value)
        if kind in ("DECIMAL", "DOUBLE", "FLOAT"):
            return float(value)
        if kind == "BOOLEAN":
            return value.strip().lower() == "true"
        if kind == "DATE":
            return dt.date.fromisoformat(value[:10])
        if kind in ("DATETIME", "TIMESTAMP"):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParameterError(f"{value!r} is not a {kind}") from None
    return value


def bind(dataset: Dataset, overrides: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """The dataset's SQL (range markers renamed) and ``{marker: value}`` for ``spark.sql(args=)``.

    ``overrides`` (``keyword`` or ``keyword.min``/``.max`` → text) replace the defaults.
    """
    overrides = overrides or {}
    sql = _RANGE_MARKER.sub(lambda m: f":{m.group(1)}__{m.group(2)}", dataset.query)
    args: dict[str, Any] = {}
    for p in dataset.parameters:
        if p.is_range:
            low, high = p.default if isinstance(p.default, tuple) else (None, None)
            args[f"{p.keyword}__min"] = convert(p.data_type, overrides.get(f"{p.keyword}.min", low))
            args[f"{p.keyword}__max"] = convert(p.data_type, overrides.get(f"{p.keyword}.max", high))
        else:
            args[p.keyword] = _value(p, overrides.get(p.keyword, p.default))
    return sql, {k: v for k, v in args.items() if re.search(rf":{k}\b", sql)}


def _value(p: Parameter, value: Any) -> Any:
    if isinstance(value, list):
        return [convert(p.data_type, v) for v in value]
    return convert(p.data_type, value)


def defaults(dataset: Dataset) -> dict[str, Any]:
    """The parameter values a refresh used, JSON-friendly, for the snapshot."""
    out: dict[str, Any] = {}
    for p in dataset.parameters:
        value = [convert(p.data_type, v) for v in p.default] if isinstance(p.default, (tuple, list)) \
            else convert(p.data_type, p.default)
        out[p.keyword] = value
    return out
