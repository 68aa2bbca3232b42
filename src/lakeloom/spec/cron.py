"""Quartz cron expressions (the Jobs API's ``quartz_cron_expression``) with time zones.

Syntax: ``seconds minutes hours day-of-month month day-of-week [year]``, with ``?``,
``L`` (last day; ``nL`` last weekday *n* of the month), ``W`` (nearest weekday),
``LW``, ``L-n`` and ``#`` (``6#3``: third Friday). Day-of-week numbers are Quartz's
(1 = Sunday ... 7 = Saturday); names (``MON-FRI``) work too. A plain 5-field cron
(``min hour dom month dow``, 0 = Sunday) is accepted and fires at second 0.

Time zones and daylight saving time (``timezone_id``, a Java/IANA zone):

* Fire times are wall-clock times in the job's zone.
* A wall time skipped by a spring-forward transition fires at the first instant after
  the gap (02:30 on a day that jumps from 02:00 to 03:00 fires at 03:00). Several
  skipped ticks collapse into that one fire.
* A wall time repeated by a fall-back transition fires once, at its first occurrence.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DOW_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_SPECIAL_DOM = re.compile(r"^(LW|L-\d+|\d+W)$")
_MAX_STEPS = 100_000


class CronError(ValueError):
    """The expression or time zone is invalid."""


@dataclass(frozen=True)
class _Parsed:
    croniter_expr: str  # six fields, seconds last (croniter's order)
    dom_filter: str | None  # a day-of-month form croniter lacks (LW, L-n), checked per date
    years: frozenset[int] | None


def _dow_token(tok: str) -> str:
    """One Quartz day-of-week list item in croniter's numbering (0 = Sunday)."""
    tok = tok.upper()
    for name, n in _DOW_NAMES.items():
        tok = re.sub(rf"\b{name}\b", str(n), tok)
    m = re.fullmatch(r"(\d)L", tok)
    if m:
        return f"L{int(m.group(1)) - 1}"
    m = re.fullmatch(r"(\d)#(\d)", tok)
    if m:
        return f"{int(m.group(1)) - 1}#{m.group(2)}"
    m = re.fullmatch(r"(\d)(?:-(\d))?(?:/(\d+))?", tok)
    if m:
        a = int(m.group(1))
        if not 1 <= a <= 7 or (m.group(2) and not 1 <= int(m.group(2)) <= 7):
            raise CronError(f"day-of-week {tok!r} out of range 1-7 (1 = Sunday)")
        out = str(a - 1)
        if m.group(2):
            out += f"-{int(m.group(2)) - 1}"
        if m.group(3):
            out += f"/{m.group(3)}"
        return out
    if tok == "L":
        return "6"  # Quartz: L alone in day-of-week is Saturday
    if tok.startswith("*"):
        return tok
    raise CronError(f"unsupported day-of-week item {tok!r}")


def _years(field: str) -> frozenset[int] | None:
    if field in ("*", "?"):
        return None
    out: set[int] = set()
    for part in field.split(","):
        m = re.fullmatch(r"(\d{4})(?:-(\d{4}))?(?:/(\d+))?", part)
        if not m:
            raise CronError(f"invalid year field {field!r}")
        lo = int(m.group(1))
        hi = int(m.group(2) or (2199 if m.group(3) else lo))
        out.update(range(lo, hi + 1, int(m.group(3) or 1)))
    return frozenset(out)


@lru_cache(maxsize=4096)
def parse(expression: str) -> _Parsed:
    """Parse and check a Quartz (6-7 fields) or plain (5 fields) cron expression."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) == 5:
        minute, hour, dom, month, dow = fields
        seconds, years = "0", None
        dow = dow.replace("?", "*")
        plain = True
    elif len(fields) in (6, 7):
        seconds, minute, hour, dom, month, dow = fields[:6]
        years = _years(fields[6]) if len(fields) == 7 else None
        plain = False
    else:
        raise CronError(f"expected 6 or 7 fields (Quartz) or 5 (cron), got {len(fields)}: {expression!r}")
    if not plain:
        if dom not in ("?", "*") and dow not in ("?", "*"):
            raise CronError("specify day-of-month or day-of-week, not both (use '?' for the other one)")
        dow = "*" if dow in ("?", "*") else ",".join(_dow_token(t) for t in dow.split(","))
    dom = "*" if dom == "?" else dom.upper()
    dom_filter = None
    if _SPECIAL_DOM.match(dom) and not re.fullmatch(r"\d+W", dom):
        dom_filter, dom = dom, "*"
    expr = f"{minute} {hour} {dom} {month} {dow} {seconds}"
    try:
        croniter(expr, datetime(2024, 1, 1))
    except Exception as e:
        raise CronError(f"invalid cron expression {expression!r}: {e}") from None
    return _Parsed(expr, dom_filter, years)


@lru_cache(maxsize=1024)
def zone(timezone_id: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone_id or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown timezone_id {timezone_id!r}") from None


def _day_ok(p: _Parsed, d: date) -> bool:
    if p.years is not None and d.year not in p.years:
        return False
    if p.dom_filter is None:
        return True
    last = calendar.monthrange(d.year, d.month)[1]
    if p.dom_filter == "LW":
        day = last
        while date(d.year, d.month, day).weekday() >= 5:
            day -= 1
        return d.day == day
    return d.day == max(1, last - int(p.dom_filter[2:]))  # L-n


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) == naive


def _instant(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time: first occurrence when repeated, end of the gap when skipped."""
    if _exists(naive, tz):
        return naive.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    t = naive.replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        t += timedelta(minutes=1)
        if _exists(t, tz):
            return t.replace(tzinfo=tz).astimezone(timezone.utc)
    raise CronError(f"no valid local time after {naive} in {tz}")  # pragma: no cover


class CronSchedule:
    """Fire times of one expression in one zone, as UTC datetimes."""

    def __init__(self, expression: str, timezone_id: str = "UTC") -> None:
        self.expression = expression
        self.tz = zone(timezone_id)
        self._parsed = parse(expression)

    def _iter(self, start_local: datetime, forward: bool):  # type: ignore[no-untyped-def]
        from croniter import croniter

        it = croniter(self._parsed.croniter_expr, start_local)
        step = it.get_next if forward else it.get_prev
        for _ in range(_MAX_STEPS):
            cand: datetime = step(datetime)
            if not _day_ok(self._parsed, cand.date()):
                if self._parsed.years is not None and cand.year > max(self._parsed.years) and forward:
                    return
                # Jump a whole day instead of stepping through every second of it.
                edge = (datetime.combine(cand.date() + timedelta(days=1), datetime.min.time()) - timedelta(seconds=1)
                        if forward else datetime.combine(cand.date(), datetime.min.time()))
                it = croniter(self._parsed.croniter_expr, edge)
                step = it.get_next if forward else it.get_prev
                continue
            yield cand

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after ``after`` (aware), or None if there is none."""
        after_utc = after.astimezone(timezone.utc)
        local = after_utc.astimezone(self.tz).replace(tzinfo=None, microsecond=0)
        # Wall times up to ``local`` all map to instants at or before ``after``, even in
        # the second pass of a repeated hour (they map to their first occurrence).
        for cand in self._iter(local, True):
            inst = _instant(cand, self.tz)
            if inst > after_utc:
                return inst
        return None

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The most recent fire instant at or before ``at`` (for catching up after downtime)."""
        at_utc = at.astimezone(timezone.utc)
        local = at_utc.astimezone(self.tz).replace(tzinfo=None, microsecond=0)
        for cand in self._iter(local + timedelta(seconds=1), False):
            inst = _instant(cand, self.tz)
            if inst <= at_utc:
                return inst
        return None


def validate(expression: str, timezone_id: str = "UTC") -> None:
    """Raise CronError if the expression or zone is invalid."""
    CronSchedule(expression, timezone_id)


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
