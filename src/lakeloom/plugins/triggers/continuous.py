"""Built-in plugin: ``continuous: {pause_status, task_retry_mode}``.

A new run starts as soon as the previous one ends (trigger CONTINUOUS). After a
failed run the next one waits an exponential backoff (1 s doubling up to
``server.continuous_max_backoff_seconds``, default 60 s). With
``task_retry_mode: ON_FAILURE`` a failed task is retried inside the run while another
task is still running its first attempt (Databricks' rule, done by the run coordinator),
and a run that still fails is repaired in place (its failed tasks rerun) up to
``server.continuous_repairs`` times (default 3) before a new run.
"""
from __future__ import annotations

from typing import Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import Decision, Fire, JobEntry, TriggerEnv, TriggerKind
from lakeloom.spec.models import Job

_FAILED = {"FAILED", "TIMEDOUT", "INTERNAL_ERROR"}


class ContinuousKind:
    key = "continuous"

    def settings_of(self, job: Job) -> Any | None:
        return job.continuous

    def paused(self, job: Job) -> bool:
        return bool(job.continuous and job.continuous.pause_status == "PAUSED")

    def evaluate(self, env: TriggerEnv, entry: JobEntry, state: dict[str, Any] | None, now_ms: int) -> Decision:
        conf = env.workspace.settings.get("server", {}) or {}
        max_backoff = int(env.workspace.continuous_max_backoff_seconds * 1000)
        if env.busy(entry.job_id):
            return Decision(next_check_ms=now_ms + env.poll_ms)  # also woken when a run ends
        latest = env.latest_run(entry.job_id)
        latest_id = latest.run_id if latest else 0
        state = dict(state or {"after": -1, "failures": 0})
        marker = (latest_id, latest.repair_count if latest else 0)
        if [state.get("after"), state.get("after_repairs", 0)] == list(marker):
            return Decision(next_check_ms=now_ms + env.poll_ms)  # already reacted to this run
        failed = latest is not None and (latest.result_state in _FAILED or latest.life_cycle_state == "INTERNAL_ERROR")
        failures = int(state.get("failures", 0)) + 1 if failed else 0
        if failed:
            # Measured on the scheduler's clock from when the failure was first seen.
            if state.get("backoff_for") != list(marker):
                until = now_ms + min(max_backoff, 1000 * 2 ** (failures - 1))
                return Decision(state={**state, "backoff_for": list(marker), "backoff_until": until},
                                next_check_ms=until)
            if now_ms < int(state.get("backoff_until", 0)):
                return Decision(next_check_ms=int(state["backoff_until"]))
        new_state = {"after": marker[0], "after_repairs": marker[1], "failures": failures}
        max_repairs = int(conf.get("continuous_repairs", 3))
        if failed and latest and entry.settings.task_retry_mode == "ON_FAILURE" and \
                latest.life_cycle_state == "TERMINATED" and marker[1] < max_repairs:
            return Decision(fire=Fire("CONTINUOUS", {"time": now_ms}, action="repair", repair_run_id=latest_id),
                            state=new_state, next_check_ms=now_ms + env.poll_ms)
        return Decision(fire=Fire("CONTINUOUS", {"time": now_ms}), state=new_state,
                        next_check_ms=now_ms + env.poll_ms)


@hookimpl
def lakeloom_triggers() -> list[TriggerKind]:
    return [ContinuousKind()]
