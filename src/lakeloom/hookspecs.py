"""Every hook lakeloom calls, grouped by lifecycle. Plugins implement them with
``@lakeloom.hookimpl``; built-ins are plugins too (see ``plugin_manager``). The types
they return and receive are the contracts in :mod:`lakeloom.plugin_api`.

Threading: registration hooks run once, on the thread that builds the plugin
manager. Run hooks run on the coordinator thread; task hooks run on the task's
worker thread, with the task's ``TaskContext`` current.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_api import (ContributedJob, Notifier, RunView, TaskContext, TaskOutput, TaskType,
                                     TriggerKind)
    from lakeloom.spec.loader import SpecError
    from lakeloom.spec.models import Job

PROJECT = "lakeloom"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration -----------------------------------------------------------

@hookspec
def lakeloom_task_types() -> list[TaskType]:
    """Return the task types this plugin provides.

    Called once when the plugin manager is built, on the calling thread. Each
    ``TaskType`` owns one job-spec key (``notebook_task``, ``shell_task``, ...); two
    plugins owning the same key is an error reported by ``lakeloom plugins`` and
    ``validate``. Return an empty list (or nothing) when the plugin has none.
    """


@hookspec
def lakeloom_triggers() -> list[TriggerKind]:
    """Return the trigger kinds this plugin provides (``cron``, ``periodic``, ``file_arrival``, ...).

    Called once when ``lakeloom serve`` builds its scheduler, on that thread. Each item
    follows ``lakeloom.plugin_api.TriggerKind``: a ``key``, ``settings_of(job)``
    (the job's settings block the kind drives, or None), ``paused(job)`` and
    ``evaluate(env, entry, state, now_ms) -> Decision``. ``evaluate`` runs on the
    scheduler thread and must not have side effects: the scheduler persists the returned
    state and claims the fire so it happens once across processes. A job is driven by the
    first kind (in plugin registration order) whose ``settings_of`` answers. Not firstresult.
    """


@hookspec
def lakeloom_notifiers() -> list[Notifier]:
    """Return notification destination types (``email``, ``slack``, ``webhook``, ...).

    Called once per process and store, when the first notification is sent. Each item
    follows ``lakeloom.plugin_api.Notifier``: a ``key`` (the destination ``type`` in
    ``notifications.destinations``) and ``send(note, destination, workspace)``, called on
    the delivery thread; it raises ``DeliveryError`` (retryable or not) on failure. The
    first plugin registered for a key wins. Not firstresult.
    """


@hookspec
def lakeloom_jobs(workspace: Workspace) -> list[ContributedJob]:
    """Return jobs contributed by an installed pipeline package.

    Called by ``lakeloom jobs list``, ``lakeloom run <name>`` and ``serve``, on the
    calling thread. Each item is a ``LoadedJob`` (what ``load_job_file`` /
    ``load_job_documents`` return; a job whose file the workspace already lists is not
    added twice) or ``(job, source)`` where ``source`` is the path of the file it came
    from (relative paths inside the job resolve against its folder). The usual
    implementation is ``[load_job_file(Path(__file__).parent / "jobs/x.yml")]``.
    """


@hookspec
def lakeloom_dashboards(workspace: Workspace) -> list[Path | tuple[str, Path]]:
    """Return AI/BI dashboards (``.lvdash.json`` files) contributed by a pipeline package.

    Called by the dashboards plugin whenever it looks a dashboard up (``lakeloom
    dashboards list|refresh|export``, a ``dashboard_task`` run, ``serve``), on the calling
    thread. Each item is a path (its key is the file name without ``.lvdash.json``) or
    ``(key, path)``. Bundle ``resources.dashboards`` and the workspace's ``dashboards/``
    folder win over a package's dashboard with the same key. Not firstresult.
    """


@hookspec
def lakeloom_spark_conf(workspace: Workspace) -> dict[str, str]:
    """Return Spark settings this plugin needs.

    Called once per run, on the thread that creates the shared SparkSession, before
    it is created. Results are merged in plugin order; the workspace's own
    ``spark.conf`` wins over every plugin.
    """


# --- run lifecycle ----------------------------------------------------------

@hookspec
def lakeloom_before_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    """Called on the coordinator thread when a run starts (or a repair begins),
    after it is recorded RUNNING and before any task starts. ``run`` is the Jobs
    API ``Run`` shape; ``handle`` is the run as a :class:`~lakeloom.plugin_api.RunView`
    (run and job ids, workspace, store, hook relay) whose ``stash`` keeps this
    plugin's state for the run: task hooks reach the same object as ``ctx.run``.
    A repair gets a fresh handle. Exceptions are logged and do not fail the run.
    """


@hookspec
def lakeloom_after_run(run: dict[str, Any], job: Job, handle: RunView) -> None:
    """Called once the run has ended and its final state is recorded: on the
    coordinator thread, or on the thread that decided a run never starts (skipped
    over ``max_concurrent_runs``, cancelled while QUEUED, failed to start; then
    ``handle`` is new, with an empty stash). ``run`` is the final ``Run`` shape;
    ``handle`` the one ``lakeloom_before_run`` received. Exceptions are logged.
    """


# --- task lifecycle ---------------------------------------------------------

@hookspec
def lakeloom_before_task(ctx: TaskContext) -> None:
    """Called on the task's worker thread before each attempt's ``run``, with the
    attempt's context current. ``ctx.run`` is the run's handle (its ``stash`` is
    shared by the run's tasks, which run on several threads at once); ``ctx.stash``
    is the attempt's own. An exception here fails the attempt.
    """


@hookspec
def lakeloom_after_task(ctx: TaskContext, output: TaskOutput, result_state: str) -> None:
    """Called on the task's worker thread after each attempt ends, successfully or
    not, with its ``result_state`` (SUCCESS, FAILED, TIMEDOUT, CANCELED).
    Exceptions are logged and do not change the result.
    """


@hookspec
def lakeloom_on_task_error(ctx: TaskContext, error: BaseException) -> None:
    """Called on the task's worker thread when an attempt raises (or is cancelled),
    with the attempt's context current and ``error`` the exception, before the
    coordinator decides whether to retry. Use it to enrich error reports or page
    someone; return nothing. Exceptions raised here are logged and ignored.
    """


# --- serve ------------------------------------------------------------------

@hookspec
def lakeloom_server_app(app: Any, server: Any) -> None:
    """Add routes to the ``lakeloom serve`` application (e.g. Model Serving endpoints).

    Called once per app, on the thread that builds it (``lakeloom.server.app.create_app``),
    after the Jobs API and the dashboard are mounted. ``app`` is the FastAPI application;
    ``server`` its ``ServerContext`` (``server.engine.workspace``, ``server.store``). Routes
    authenticate with ``lakeloom.server.auth.authenticate`` as the Jobs API does. There is no
    shutdown counterpart: start background work lazily or on daemon threads. Returns nothing;
    an exception stops the server from starting. Not firstresult.
    """


# --- governance -------------------------------------------------------------

@hookspec(firstresult=True)
def lakeloom_authorize(principal: str, privilege: str, securable: str) -> bool | None:
    """Decide whether ``principal`` holds ``privilege`` (Unity Catalog's spelling: ``SELECT``,
    ``MODIFY``, ``READ_VOLUME``, ...) on ``securable`` (its full name, ``catalog.schema.table``).

    Consulted by the Python-side checks (:meth:`lakeloom.catalog.grants.GrantStore.check`, used
    by the REST API and ``dbutils.fs`` on volumes) before the workspace's grants; the JVM's
    enforcement inside Spark reads the grant store only. Called on the thread that asks.
    firstresult: the first non-None answer wins (True allows, False denies with Databricks'
    ``User does not have <privilege> on ...`` message); None from every plugin means "no
    opinion" and the grants decide.
    """


# --- bundles ----------------------------------------------------------------

@hookspec(firstresult=True)
def lakeloom_bundle_resource(kind: str, key: str, settings: dict[str, Any], bundle_root: Path,
                             workspace: Workspace) -> bool | None:
    """Deploy one bundle resource lakeloom does not run itself: ``kind`` is the type under
    ``resources`` (``dashboards``, ``registered_models``, ``experiments``,
    ``model_serving_endpoints``, ...), ``key`` its key, ``settings`` its resolved mapping (local
    paths absolute), ``bundle_root`` the bundle's folder. Called by ``lakeloom bundle deploy``
    and ``bundle run`` on the main thread, before any job runs. firstresult: return True once
    the plugin has taken the resource; None from every plugin makes deploy warn, naming the key.
    """


@hookspec
def lakeloom_check_bundle_resource(kind: str, key: str, settings: dict[str, Any],
                                   bundle_root: Path) -> list[SpecError] | None:
    """Check one bundle resource that ``lakeloom_bundle_resource`` would deploy, without deploying
    anything (no JVM, no writes): ``kind``/``key``/``settings``/``bundle_root`` as there.

    Called by ``lakeloom bundle validate``, ``lakeloom validate databricks.yml`` and at the start
    of ``bundle deploy``/``bundle run`` (which then deploy nothing when an error is returned), on
    the calling thread. Return the problems found (``SpecError``: ``file`` the file the problem is
    in, e.g. a dashboard's ``.lvdash.json``, ``field`` the path inside it; a problem without a
    file is placed on the resource's line of the bundle), an empty list when the resource is
    fine, or None when it is not this plugin's. Not firstresult: every plugin's problems count.
    """


@hookspec(firstresult=True)
def lakeloom_bundle_resource_removed(kind: str, key: str, workspace: Workspace) -> bool | None:
    """Undo ``lakeloom_bundle_resource`` for resource ``resources.<kind>.<key>``: called by
    ``lakeloom bundle destroy`` for every resource a plugin took at deploy, and by ``bundle
    deploy`` for resources an earlier deploy of the same bundle and target had and this one has
    not, on the main thread. Return True once the plugin has removed what it deployed (a
    registration, a scheduled refresh job, a serving endpoint), None when the resource is not
    the plugin's. firstresult.
    """
