"""The scheduler loop: evaluates each deployed job's trigger when due and starts runs.

The loop sleeps until the earliest due evaluation (so 1,000 idle cron jobs cost almost
nothing), wakes when a run ends (continuous jobs, the queue) and re-reads the jobs
when the store says they changed (``lakeloom deploy``, ``jobs/create``, pause).
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from lakeloom.engine.prepare import RunTrigger
from lakeloom.plugin_api import Decision, Fire, JobEntry, TriggerEnv, TriggerKind
from lakeloom.scheduler.clock import Clock, SystemClock

if TYPE_CHECKING:
    from lakeloom.engine.executor import RunExecutor

log = logging.getLogger("lakeloom.scheduler")


def trigger_kinds(pm: Any) -> list[TriggerKind]:
    """Every trigger kind registered through ``lakeloom_triggers``, in plugin order."""
    kinds: list[TriggerKind] = []
    for items in reversed(pm.hook.lakeloom_triggers()):
        kinds.extend(items or [])
    return kinds


class Scheduler:
    """Fires the jobs of one store. Several schedulers (processes) may share a store."""

    def __init__(self, executor: RunExecutor, *, clock: Clock | None = None, kinds: list[TriggerKind] | None = None,
                 poll_seconds: float | None = None, refresh_seconds: float | None = None) -> None:
        self.executor = executor
        self.engine = executor.engine
        self.store = executor.store
        self.clock = clock or SystemClock()
        settings = self.engine.workspace.settings.get("server", {}) or {}
        poll = poll_seconds if poll_seconds is not None else float(settings.get("trigger_poll_seconds", 10))
        self.env = TriggerEnv(self.engine.workspace, self.store, poll_ms=int(poll * 1000))
        self.refresh_ms = int(1000 * (refresh_seconds if refresh_seconds is not None
                                      else float(settings.get("job_refresh_seconds", 2))))
        self.kinds = kinds if kinds is not None else trigger_kinds(self.engine.pm)
        self.entries: dict[int, JobEntry] = {}
        self.errors: dict[int, str] = {}
        self._fingerprint: Any = None
        self._next_refresh = 0
        self._next_queue_scan = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        executor.on_run_end.append(self._on_run_end)

    # --- jobs -----------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Re-read deployed jobs and pause controls if the store changed."""
        fp = self.store.jobs_fingerprint()
        if fp == self._fingerprint and not force:
            return
        self._fingerprint = fp
        overrides = self.store.pause_overrides()
        seen: set[int] = set()
        for stored in self.store.deployed_jobs():
            job_id = stored.job_id
            try:
                job = stored.job
            except Exception as e:  # a bad stored job must not stop the others
                self.errors[job_id] = str(e)
                continue
            for kind in self.kinds:
                block = kind.settings_of(job)
                if block is None:
                    continue
                paused = overrides.get(job_id) == "PAUSED" or (overrides.get(job_id) != "UNPAUSED"
                                                               and kind.paused(job))
                old = self.entries.get(job_id)
                same = old is not None and old.kind is kind and old.settings == block
                entry = JobEntry(job_id, job, stored.creator, block, kind, paused,
                                 old.next_check_ms if same and old else 0)
                self.entries[job_id] = entry
                seen.add(job_id)
                break
        for job_id in set(self.entries) - seen:
            del self.entries[job_id]

    # --- one pass ----------------------------------------------------------------------

    def tick(self) -> int | None:
        """Evaluate every job that is due at the clock's now; return ms until the next due one."""
        now = self.clock.now_ms()
        if now >= self._next_refresh:
            self.refresh()
            self._next_refresh = now + self.refresh_ms
        if now >= self._next_queue_scan:
            self.executor.drain_queue()
            self._next_queue_scan = now + self.refresh_ms
        for entry in list(self.entries.values()):
            # Paused jobs are still evaluated, so their state moves on (a tick or file seen
            # while paused never fires later); only their fires are dropped.
            if entry.next_check_ms > now:
                continue
            try:
                self._evaluate(entry, now)
            except Exception:
                log.exception("trigger %s of job %s failed", entry.kind.key, entry.job_id)
                entry.next_check_ms = now + self.env.poll_ms
        due = [e.next_check_ms for e in self.entries.values()]
        nxt = min(due + [self._next_refresh, self._next_queue_scan])
        return max(0, nxt - self.clock.now_ms())

    def _evaluate(self, entry: JobEntry, now: int) -> None:
        version, state = self.store.trigger_state(entry.job_id, entry.kind.key)
        decision: Decision = entry.kind.evaluate(self.env, entry, state, now)
        changed = decision.state is not None and decision.state != state
        entry.next_check_ms = decision.next_check_ms if decision.next_check_ms is not None else 2 ** 62
        fire = None if entry.paused else decision.fire
        if fire is not None and fire.tick_ms is not None:
            won = self.store.claim_tick(entry.job_id, fire.tick_ms, entry.kind.key)
            if changed:
                self.store.cas_trigger_state(entry.job_id, entry.kind.key, version, decision.state or {})
            if won:
                self._fire(entry, fire)
            return
        if changed and not self.store.cas_trigger_state(entry.job_id, entry.kind.key, version, decision.state or {}):
            entry.next_check_ms = now  # another process moved the state: decide again from it
            return
        if fire is not None:
            self._fire(entry, fire)

    def _fire(self, entry: JobEntry, fire: Fire) -> None:
        job = entry.job
        run_as = (job.run_as.principal if job.run_as else None) or entry.creator
        if fire.action == "repair" and fire.repair_run_id is not None:
            log.info("job %s: repairing run %s (%s)", entry.job_id, fire.repair_run_id, fire.trigger_type)
            try:
                self.executor.repair(fire.repair_run_id, rerun_all_failed=True)
                return
            except Exception as e:  # the decision is already persisted: without a run the job would stall
                log.warning("job %s: cannot repair run %s (%s); starting a new run instead",
                            entry.job_id, fire.repair_run_id, e)
        stored = self.store.get_job(entry.job_id)  # the job as it is now, not as of the last refresh
        if stored is None:
            raise KeyError(entry.job_id)
        trigger = RunTrigger(fire.trigger_type, dict(fire.trigger_info), run_as=run_as)
        launch = self.executor.start(stored, trigger=trigger)
        if fire.tick_ms is not None:
            self.store.set_tick_run(entry.job_id, fire.tick_ms, launch.run_id)
        log.info("job %s fired (%s): run %s %s", entry.job_id, fire.trigger_type, launch.run_id, launch.state)

    def _on_run_end(self, job_id: int, _run_id: int) -> None:
        entry = self.entries.get(job_id)
        if entry is not None and entry.kind.key == "continuous":
            entry.next_check_ms = 0
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def run(self, max_sleep_seconds: float = 60.0) -> None:
        """Loop until :meth:`stop` (on the calling thread)."""
        while not self._stop.is_set():
            try:
                wait_ms = self.tick()
            except Exception:
                log.exception("scheduler pass failed")
                wait_ms = 1000
            self._wake.wait(min(max_sleep_seconds, (wait_ms or 0) / 1000))
            self._wake.clear()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="lakeloom-scheduler", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
