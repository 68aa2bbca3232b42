"""Built-in plugin: time triggers. ``schedule`` (Quartz cron) and ``trigger.periodic``.

Both fire at most once per tick, claimed in the store by (job, scheduled time). After
downtime only the most recent missed tick fires (not one run per missed tick). A job
seen for the first time does not fire for ticks before that moment. Ticks that fall
while the job is paused are skipped for good.
"""
from __future__ import annotations

from typing import Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import Decision, Fire, JobEntry, TriggerEnv, TriggerKind
from lakeloom.spec.cron import CronSchedule, from_ms, ms
from lakeloom.spec.models import Job

_UNIT_MS = {"MINUTES": 60_000, "HOURS": 3_600_000, "DAYS": 86_400_000, "WEEKS": 604_800_000}


class CronKind:
    """``schedule: {quartz_cron_expression, timezone_id, pause_status}``; runs get trigger PERIODIC."""

    key = "cron"

    def settings_of(self, job: Job) -> Any | None:
        return job.schedule

    def paused(self, job: Job) -> bool:
        return bool(job.schedule and job.schedule.pause_status == "PAUSED")

    def evaluate(self, env: TriggerEnv, entry: JobEntry, state: dict[str, Any] | None, now_ms: int) -> Decision:
        sched = CronSchedule(entry.settings.quartz_cron_expression, entry.settings.timezone_id)
        now = from_ms(now_ms)
        nxt = sched.next_after(now)
        next_check = ms(nxt) if nxt else None
        if state is None:
            return Decision(state={"since": now_ms}, next_check_ms=next_check)
        baseline = max(int(state.get("since", 0)), int(state.get("last_tick", 0)))
        due = sched.latest_at_or_before(now)
        if due is None or ms(due) <= baseline:
            return Decision(next_check_ms=next_check)
        tick = ms(due)
        info = {"time": tick, "schedule": {"quartz_cron_expression": sched.expression,
                                           "timezone_id": entry.settings.timezone_id}}
        return Decision(fire=Fire("PERIODIC", info, tick_ms=tick), state={**state, "last_tick": tick},
                        next_check_ms=next_check)


class PeriodicKind:
    """``trigger.periodic: {interval, unit}``: every interval, counted from when the job was first seen."""

    key = "periodic"

    def settings_of(self, job: Job) -> Any | None:
        return job.trigger.periodic if job.trigger else None

    def paused(self, job: Job) -> bool:
        return bool(job.trigger and job.trigger.pause_status == "PAUSED")

    def evaluate(self, env: TriggerEnv, entry: JobEntry, state: dict[str, Any] | None, now_ms: int) -> Decision:
        interval = entry.settings.interval * _UNIT_MS[entry.settings.unit]
        if state is None or "since" not in state:
            return Decision(state={"since": now_ms}, next_check_ms=now_ms + interval)
        since = int(state["since"])
        k = max(0, (now_ms - since) // interval)
        next_check = since + (k + 1) * interval
        tick = since + k * interval
        if k < 1 or tick <= int(state.get("last_tick", 0)):
            return Decision(next_check_ms=next_check)
        info = {"time": tick, "periodic": {"interval": entry.settings.interval, "unit": entry.settings.unit}}
        return Decision(fire=Fire("PERIODIC", info, tick_ms=tick), state={**state, "last_tick": tick},
                        next_check_ms=next_check)


@hookimpl
def lakeloom_triggers() -> list[TriggerKind]:
    return [CronKind(), PeriodicKind()]
