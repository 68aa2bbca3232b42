"""How a job is triggered, in words: Quartz cron expressions described in English with
their time zone, periodic / file-arrival / table-update / continuous triggers, the
effective pause state and the next fire time."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lakeloom.spec.models import Job

_DOW = {"1": "Sunday", "2": "Monday", "3": "Tuesday", "4": "Wednesday", "5": "Thursday", "6": "Friday",
        "7": "Saturday", "SUN": "Sunday", "MON": "Monday", "TUE": "Tuesday", "WED": "Wednesday",
        "THU": "Thursday", "FRI": "Friday", "SAT": "Saturday"}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_UNIT_MS = {"MINUTES": 60_000, "HOURS": 3_600_000, "DAYS": 86_400_000, "WEEKS": 604_800_000}


@dataclass
class TriggerInfo:
    """What the jobs pages show about a job's trigger."""

    kind: str  # "cron", "periodic", "file_arrival", "table_update", "continuous", "manual"
    text: str
    paused: bool = False
    next_fire_ms: int | None = None


def _num(v: str) -> bool:
    return v.isdigit()


def _every(field: str, unit: str) -> str | None:
    m = re.fullmatch(r"(?:\*|0)/(\d+)", field)
    if m:
        n = int(m.group(1))
        return f"every {unit}" if n == 1 else f"every {n} {unit}s"
    return None


def _dow_text(dow: str) -> str | None:
    dow = dow.upper()
    if dow in ("*", "?"):
        return None
    m = re.fullmatch(r"(\w+)-(\w+)", dow)
    if m and m.group(1) in _DOW and m.group(2) in _DOW:
        return f"{_DOW[m.group(1)]} to {_DOW[m.group(2)]}"
    items = dow.split(",")
    if all(i in _DOW for i in items):
        return ", ".join(_DOW[i] for i in items)
    return None


def describe_cron(expression: str) -> str:
    """An English reading of a Quartz (or 5-field) cron expression; the expression itself
    when it is too unusual to read out."""
    fields = expression.split()
    if len(fields) == 5:  # plain cron: 0 = Sunday; Quartz numbers days from 1 = Sunday
        dow = re.sub(r"\d", lambda m: str(int(m.group(0)) % 7 + 1), fields[4])
        fields = ["0", *fields[:4], dow]
    if len(fields) not in (6, 7):
        return f"cron {expression}"
    sec, minute, hour, dom, month, dow = fields[:6]
    when: str | None = None
    if _num(sec) and _num(minute) and _num(hour):
        when = f"at {int(hour):02d}:{int(minute):02d}" + (f":{int(sec):02d}" if int(sec) else "")
    elif _num(sec) and _num(minute) and hour == "*":
        when = "every hour" + (f" at minute {int(minute)}" if int(minute) else "")
    elif _num(sec) and minute == "*" and hour == "*":
        when = "every minute"
    elif _num(sec) and _every(minute, "minute") and hour == "*":
        when = _every(minute, "minute")
    elif _num(sec) and _num(minute) and _every(hour, "hour"):
        when = f"{_every(hour, 'hour')} at minute {int(minute)}"
    elif sec == "*" and minute == "*" and hour == "*":
        when = "every second"
    elif _every(sec, "second") and minute == "*" and hour == "*":
        when = _every(sec, "second")
    if when is None:
        return f"cron {expression}"
    days = _dow_text(dow)
    if dom not in ("*", "?"):
        if dom == "L":
            day_text = "on the last day of the month"
        elif _num(dom):
            day_text = f"on day {int(dom)} of the month"
        else:
            return f"cron {expression}"
    elif days:
        day_text = f"on {days}"
    elif dow.upper() in ("*", "?"):
        day_text = "every day" if when.startswith("at ") else ""
    else:
        return f"cron {expression}"
    month_text = ""
    if month != "*":
        if _num(month) and 1 <= int(month) <= 12:
            month_text = f"in {_MONTHS[int(month) - 1]}"
        else:
            return f"cron {expression}"
    text = " ".join(p for p in (when, day_text, month_text) if p)
    return text[0].upper() + text[1:]


def _plural(n: int, unit: str) -> str:
    unit = unit.lower().rstrip("s")
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def trigger_info(job: Job, pause_override: str | None, state: dict[str, Any] | None = None,
                 now: datetime | None = None) -> TriggerInfo:
    """The job's trigger in words, its effective pause state and (cron, periodic) next fire
    time. ``state`` is the scheduler's persisted state of a periodic trigger, if any."""
    now = now or datetime.now(timezone.utc)
    if job.schedule is not None:
        paused = (pause_override or job.schedule.pause_status) == "PAUSED"
        info = TriggerInfo("cron", f"{describe_cron(job.schedule.quartz_cron_expression)} "
                                   f"({job.schedule.timezone_id})", paused)
        if not paused:
            from lakeloom.spec.cron import CronError, CronSchedule, ms

            try:
                nxt = CronSchedule(job.schedule.quartz_cron_expression, job.schedule.timezone_id).next_after(now)
                info.next_fire_ms = ms(nxt) if nxt else None
            except CronError:
                pass
        return info
    if job.continuous is not None:
        return TriggerInfo("continuous", "Continuous", (pause_override or job.continuous.pause_status) == "PAUSED")
    trig = job.trigger
    if trig is not None:
        paused = (pause_override or trig.pause_status) == "PAUSED"
        if trig.periodic is not None:
            info = TriggerInfo("periodic", _plural(trig.periodic.interval, trig.periodic.unit).capitalize(), paused)
            if not paused and state and "since" in state:
                interval = trig.periodic.interval * _UNIT_MS[trig.periodic.unit]
                now_ms = int(now.timestamp() * 1000)
                k = max(0, (now_ms - int(state["since"])) // interval)
                info.next_fire_ms = int(state["since"]) + (k + 1) * interval
            return info
        if trig.file_arrival is not None:
            return TriggerInfo("file_arrival", f"On file arrival in {trig.file_arrival.url}", paused)
        table = trig.table_update or trig.table
        if table is not None:
            names = ", ".join(table.table_names)
            return TriggerInfo("table_update", f"On update of {names}", paused)
    return TriggerInfo("manual", "Manual")
