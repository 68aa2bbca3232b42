"""Built-in plugin: decides which run and task events notify whom, and hands them to the
:class:`~lakeloom.plugins.notify.dispatch.Dispatcher`.

* Job level (``lakeloom_before_run`` / ``lakeloom_after_run``): ``on_start``,
  ``on_success`` (TERMINATED + SUCCESS), ``on_failure`` (FAILED, TIMEDOUT,
  INTERNAL_ERROR; CANCELED unless ``no_alert_for_canceled_runs``; skipped runs such as
  MAXIMUM_CONCURRENT_RUNS_REACHED unless ``no_alert_for_skipped_runs``).
* Task level (``lakeloom_before_task`` / ``lakeloom_after_task``): the same keys on the
  task; ``alert_on_last_attempt`` holds back start and failure alerts of attempts that
  will be retried.
* ``health.rules`` with ``RUN_DURATION_SECONDS``: ``on_duration_warning_threshold_exceeded``
  fires while the run (or task attempt) is still going, once per run or attempt.
* SQL alerts: a ``sql_task.alert`` whose state is TRIGGERED notifies its
  ``subscriptions`` (``user_name`` by email, ``destination_id`` by destination).

What the plugin knows about a run (its dispatcher, its duration timer) lives in the
run's stash, so concurrent runs of one process never see each other's; the only
process-wide state is one dispatcher (delivery thread) per store.
"""
from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import (ALERT_TRIGGERED, ON_DURATION_WARNING, ON_FAILURE, ON_START, ON_SUCCESS, Notification,
                                 StashKey)
from lakeloom.plugin_api.notifiers import EVENT_FIELDS
from lakeloom.plugins.notify.dispatch import Delivery, Dispatcher

if TYPE_CHECKING:
    from lakeloom.plugin_api import RunView, TaskContext, TaskOutput
    from lakeloom.spec.models import Job, Task

_lock = threading.Lock()
_dispatchers: dict[str, Dispatcher] = {}
_FAILED = {"FAILED", "TIMEDOUT"}

#: The dispatcher of a run whose start this process saw (task notifications need it).
RUN_DISPATCHER = StashKey[Dispatcher]()
#: The run's duration-warning timer, cancelled when the run ends.
RUN_TIMER = StashKey[threading.Timer]()
#: An attempt's duration-warning timer, cancelled when the attempt ends.
TASK_TIMER = StashKey[threading.Timer]()


def dispatcher_for(handle: RunView) -> Dispatcher:
    """The process's dispatcher for the run's store (created on first use)."""
    with _lock:
        d = _dispatchers.get(handle.store.url)
        if d is None:
            notifiers: dict[str, Any] = {}
            for items in reversed(handle.hook.lakeloom_notifiers()):
                for n in items or []:
                    notifiers.setdefault(n.key, n)
            d = _dispatchers[handle.store.url] = Dispatcher(handle.workspace, handle.store, notifiers)
        return d


@atexit.register
def flush_all(timeout: float | None = None) -> None:
    """Wait for queued deliveries (at exit, so a ``lakeloom run`` process delivers before it ends)."""
    for d in list(_dispatchers.values()):
        d.flush(timeout if timeout is not None else float(d.workspace.notifications.get("flush_seconds", 30)))


def _settings_of(obj: Job | Task) -> tuple[Any, Any, Any]:
    return obj.email_notifications, obj.webhook_notifications, obj.notification_settings


def _notifies(owner: Job | Task) -> bool:
    """Whether ``owner`` lists any recipient at all (most tasks do not: skip building notes)."""
    return owner.email_notifications is not None or owner.webhook_notifications is not None


def _send(disp: Dispatcher, note: Notification, owner: Job | Task) -> None:
    """Queue ``note`` for every recipient the job or task lists for its event type."""
    emails, hooks, _ = _settings_of(owner)
    field = EVENT_FIELDS.get(note.event_type)
    if field is None:
        return
    for address in getattr(emails, field, []) if emails else []:
        disp.submit(Delivery(note, "email", {"to": [address]}, address))
    destinations = disp.workspace.notification_destinations
    for ref in getattr(hooks, field, []) if hooks else []:
        dest = destinations.get(ref.id)
        delivery = Delivery(note, str((dest or {}).get("type", "webhook")), dest or {}, ref.id)
        if dest is None:
            disp.reject(delivery, f"unknown notification destination {ref.id!r} (see notifications.destinations)")
        else:
            disp.submit(delivery)


def _note(event: str, run: dict[str, Any], job: Job, disp: Dispatcher, **kw: Any) -> Notification:
    latest = {t["task_key"]: t for t in run.get("tasks", []) if "iteration" not in t}  # the last attempt of each
    failing = [{"task_key": t["task_key"], "result_state": t["state"].get("result_state", ""),
                "error": t["state"].get("state_message", "")}
               for t in latest.values() if t["state"].get("result_state") in _FAILED]
    duration = (run["end_time"] - run["start_time"]) / 1000 if run.get("end_time") else None
    return Notification(event, int(run.get("job_id", 0)), job.name, int(run["run_id"]),
                        disp.workspace.run_page_url(int(run["run_id"])), dict(run.get("state", {})),
                        failing_tasks=failing, message=run.get("state", {}).get("state_message", ""),
                        trigger=run.get("trigger"), start_time=run.get("start_time"), duration_seconds=duration, **kw)


def run_event(run: dict[str, Any], job: Job) -> str | None:
    """The event a finished run notifies, honouring notification_settings."""
    state = run.get("state", {})
    result, life = state.get("result_state"), state.get("life_cycle_state")
    ns, emails = job.notification_settings, job.email_notifications
    if result == "SUCCESS":
        return ON_SUCCESS
    if result in _FAILED or life == "INTERNAL_ERROR":
        return ON_FAILURE
    if result == "CANCELED":
        return None if ns and ns.no_alert_for_canceled_runs else ON_FAILURE
    if result == "MAXIMUM_CONCURRENT_RUNS_REACHED" or life == "SKIPPED":
        skip = (ns and ns.no_alert_for_skipped_runs) or (emails and emails.no_alert_for_skipped_runs)
        return None if skip else ON_FAILURE
    return None


def _duration_limit(owner: Job | Task) -> int | None:
    rules = owner.health.rules if owner.health else []
    values = [r.value for r in rules if r.metric == "RUN_DURATION_SECONDS"]
    return min(values) if values else None


# --- run hooks ------------------------------------------------------------------------

def _start_timer(seconds: float, warn: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(seconds, warn)
    timer.daemon = True
    timer.start()
    return timer


@hookimpl
def lakeloom_before_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    if not run:
        return
    disp = handle.stash[RUN_DISPATCHER] = dispatcher_for(handle)
    limit = _duration_limit(job)
    if limit is not None:
        def warn() -> None:
            if not handle.finished():
                _send(disp, _note(ON_DURATION_WARNING, run, job, disp, extra={"threshold_seconds": limit}), job)
        handle.stash[RUN_TIMER] = _start_timer(limit, warn)
    _send(disp, _note(ON_START, run, job, disp), job)


@hookimpl
def lakeloom_after_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    if not run:
        return
    timer = handle.stash.pop(RUN_TIMER, None)
    if timer is not None:
        timer.cancel()
    disp = handle.stash.get(RUN_DISPATCHER, None) or dispatcher_for(handle)
    event = run_event(run, job)
    if event is not None:
        _send(disp, _note(event, run, job, disp), job)


# --- task hooks -----------------------------------------------------------------------

def _task_note(ctx: TaskContext, event: str, disp: Dispatcher, state: dict[str, Any], **kw: Any) -> Notification:
    return Notification(event, ctx.job_id, ctx.job_name, ctx.run_id, disp.workspace.run_page_url(ctx.run_id),
                        state, task_key=ctx.task_key, task_run_id=ctx.task_run_id, **kw)


def _last_attempt(task: Task, attempt_number: int) -> bool:
    return task.max_retries != -1 and attempt_number >= task.max_retries


def _run_dispatcher(ctx: TaskContext) -> Dispatcher | None:
    return ctx.run.stash.get(RUN_DISPATCHER, None) if ctx.run is not None else None


@hookimpl
def lakeloom_before_task(ctx: TaskContext) -> None:
    disp = _run_dispatcher(ctx)
    task = ctx.task
    if disp is None or task is None:
        return
    ns = task.notification_settings
    if _notifies(task) and (ctx.attempt_number == 0 or not (ns and ns.alert_on_last_attempt)):
        _send(disp, _task_note(ctx, ON_START, disp, {"life_cycle_state": "RUNNING"}), task)
    limit = _duration_limit(task)
    if limit is not None:
        store = disp.store

        def warn() -> None:
            row = store.get_task_run(ctx.task_run_id)
            if row is not None and row.end_time is None:
                _send(disp, _task_note(ctx, ON_DURATION_WARNING, disp, {"life_cycle_state": "RUNNING"},
                                       extra={"threshold_seconds": limit}), task)
        ctx.stash[TASK_TIMER] = _start_timer(limit, warn)


@hookimpl
def lakeloom_after_task(ctx: TaskContext, output: TaskOutput, result_state: str) -> None:
    timer = ctx.stash.pop(TASK_TIMER, None)
    if timer is not None:
        timer.cancel()
    disp = _run_dispatcher(ctx)
    task = ctx.task
    if disp is None or task is None:
        return
    if not _notifies(task):
        if result_state == "SUCCESS":
            _sql_alert(ctx, task, output, disp)
        return
    state = {"life_cycle_state": "TERMINATED", "result_state": result_state}
    if result_state == "SUCCESS":
        _send(disp, _task_note(ctx, ON_SUCCESS, disp, state), task)
        _sql_alert(ctx, task, output, disp)
    elif result_state in _FAILED:
        ns = task.notification_settings
        if not (ns and ns.alert_on_last_attempt) or _last_attempt(task, ctx.attempt_number):
            _send(disp, _task_note(ctx, ON_FAILURE, disp, state), task)
    elif result_state == "CANCELED":
        ns = task.notification_settings
        if not (ns and ns.no_alert_for_canceled_runs):
            _send(disp, _task_note(ctx, ON_FAILURE, disp, state), task)


def _sql_alert(ctx: TaskContext, task: Task, output: TaskOutput, disp: Dispatcher) -> None:
    sql = (output.output or {}).get("sql_output") or {}
    block = task.task_blocks.get("sql_task")
    alert = block.get("alert") if isinstance(block, dict) else None
    if sql.get("alert_state") != "TRIGGERED" or not isinstance(alert, dict) or alert.get("pause_subscriptions"):
        return
    note = _task_note(ctx, ALERT_TRIGGERED, disp, {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
                      message=f"alert condition met; first row: {sql.get('first_row')}",
                      extra={"alert_state": "TRIGGERED", "first_row": sql.get("first_row")})
    destinations = disp.workspace.notification_destinations
    for sub in alert.get("subscriptions") or []:
        if sub.get("user_name"):
            disp.submit(Delivery(note, "email", {"to": [sub["user_name"]]}, sub["user_name"]))
        elif sub.get("destination_id"):
            dest = destinations.get(sub["destination_id"])
            delivery = Delivery(note, str((dest or {}).get("type", "webhook")), dest or {}, sub["destination_id"])
            if dest is None:
                disp.reject(delivery, f"unknown notification destination {sub['destination_id']!r}")
            else:
                disp.submit(delivery)
