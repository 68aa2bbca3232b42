"""Everything a lakeloom plugin implements or receives, in one place.

A plugin is a module or object with ``@lakeloom.hookimpl`` functions named after the
hookspecs in :mod:`lakeloom.hookspecs`; it is registered through the ``lakeloom`` entry
point group (built-ins through ``DEFAULT_PLUGINS``). What each hook returns or receives:

============================  ==========================================================
hook                          contract
============================  ==========================================================
``lakeloom_task_types``       returns :class:`TaskType` items; ``run(ctx, settings)`` gets a
                              :class:`TaskContext` and returns a :class:`TaskOutput` (or
                              raises :class:`TaskFailed` / :class:`TaskCancelled`);
                              ``validate`` returns :class:`SpecIssue` items
``lakeloom_triggers``         returns :class:`TriggerKind` items; ``evaluate`` gets a
                              :class:`TriggerEnv` and a :class:`JobEntry`, returns a
                              :class:`Decision` (with a :class:`Fire` to start a run)
``lakeloom_notifiers``        returns :class:`Notifier` items; ``send`` gets a
                              :class:`Notification`, raises :class:`DeliveryError`
``lakeloom_jobs``             returns ``LoadedJob`` items (``lakeloom.spec.loader``) or
                              ``(Job, source path)`` pairs: a :data:`ContributedJob`
``lakeloom_spark_conf``       returns ``{spark key: value}``
``lakeloom_authorize``        returns True / False, or None for no opinion (firstresult)
``lakeloom_bundle_resource``  gets one bundle resource's settings; returns True once taken
run hooks                     ``run`` (the Jobs API ``Run`` dict), ``job`` and ``handle``, a
                              :class:`RunView` whose :class:`Stash` holds per-run state
task hooks                    ``ctx``, the attempt's :class:`TaskContext`; ``ctx.run`` is
                              the run's :class:`RunView`, ``ctx.stash`` the attempt's
============================  ==========================================================

Inside a task, :func:`current_context` (``lakeloom.context()``) returns the context.
The classes here (and ``current_context``) are re-exported by the ``lakeloom`` facade.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

from lakeloom.plugin_api.context import (ChildRunResult, RunServices, TaskCancelled, TaskContext, TaskValues,
                                         current_context)
from lakeloom.plugin_api.notifiers import (ALERT_TRIGGERED, DASHBOARD_SNAPSHOT, ON_DURATION_WARNING, ON_FAILURE,
                                           ON_START, ON_SUCCESS, Attachment, DeliveryError, Notification, Notifier,
                                           http_post)
from lakeloom.plugin_api.runs import RunView, Stash, StashKey
from lakeloom.plugin_api.tasks import SpecIssue, TaskFailed, TaskOutput, TaskType
from lakeloom.plugin_api.triggers import Decision, Fire, JobEntry, TriggerEnv, TriggerKind

if TYPE_CHECKING:
    from lakeloom.spec.loader import LoadedJob
    from lakeloom.spec.models import Job

#: One job ``lakeloom_jobs`` contributes: a loaded job file, or ``(job, source path)``.
ContributedJob = Union["LoadedJob", "tuple[Job, str]"]

__all__ = [
    "ALERT_TRIGGERED", "DASHBOARD_SNAPSHOT", "ON_DURATION_WARNING", "ON_FAILURE", "ON_START", "ON_SUCCESS",
    "Attachment", "ChildRunResult", "ContributedJob", "Decision", "DeliveryError", "Fire", "JobEntry", "Notification", "Notifier", "RunServices",
    "RunView", "SpecIssue", "Stash", "StashKey", "TaskCancelled", "TaskContext", "TaskFailed", "TaskOutput",
    "TaskType", "TaskValues", "TriggerEnv", "TriggerKind", "current_context", "http_post",
]
