"""One task attempt, executed on a worker thread with its context and log capture."""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from lakeloom.engine import states as st
from lakeloom.engine.observers import call_each
from lakeloom.plugin_api import TaskCancelled, TaskContext, TaskFailed, TaskOutput, TaskValues
from lakeloom.plugin_api.context import activate, redact_value
from lakeloom.runtime import logcapture
from lakeloom.runtime.cloud_hints import with_cloud_hint
from lakeloom.runtime.environments import task_environment
from lakeloom.runtime.jvm_logging import driver_log, log_size, task_lines
from lakeloom.runtime.references import resolve_deep
from lakeloom.runtime.worker_errors import python_worker_error, with_worker_cause
from lakeloom.spec.models import Task
from lakeloom.spec.parameters import param_string

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.engine.session import RunSession


@dataclass
class AttemptPlan:
    task: Task
    attempt_number: int
    task_run_id: int
    cancel_event: threading.Event
    job_group: str
    iteration: int | None = None
    input_value: Any = None
    has_input: bool = False


@dataclass
class AttemptResult:
    result_state: str
    output: dict[str, Any] = field(default_factory=dict)
    condition_outcome: str | None = None
    error_type: str | None = None
    message: str = ""
    trace: str | None = None
    child_run_ids: list[int] = field(default_factory=list)
    params: dict[str, Any] | None = None
    log_path: str | None = None


def _key_value_parameters(tt: Any, settings: Any, job_parameters: dict[str, str]) -> dict[str, str]:
    params: dict[str, str] = {}
    if tt.parameters_field:
        raw = getattr(settings, tt.parameters_field, None)
        if isinstance(raw, dict):
            params = {str(k): param_string(v) for k, v in raw.items()}
    if tt.key_value_parameters:
        params.update(job_parameters)  # Databricks: the job parameter wins over a task parameter of that name
    return params


def execute_attempt(session: RunSession, plan: AttemptPlan,
                    spark: Callable[[], SparkSession] | None = None) -> AttemptResult:
    """Run one attempt in this process; never raises (every failure becomes a FAILED result).

    ``spark`` is the session of the task's job cluster (default: the run's session).
    """
    task = plan.task
    log_path = session.log_path(task.task_key, plan.attempt_number, plan.iteration)
    ctx: TaskContext | None = None
    sink = logcapture.LogSink(log_path, redact=lambda text: ctx.redact(text) if ctx else text)
    result = AttemptResult(st.SUCCESS, log_path=str(log_path))
    binder = session.spark_binder(plan.job_group, task.task_key, spark, plan.task_run_id)
    jvm_log = driver_log(session.workspace, session.run_id)
    jvm_start = log_size(jvm_log)
    with logcapture.capture(sink):
        try:
            tt = session.pm.task_types[task.kind]
            scopes: list[Any] = []

            def resolver(text: str) -> str:
                # The scope is built on first use: most attempts resolve nothing at run time.
                if not scopes:
                    scopes.append(session.reference_scope(plan))
                return scopes[0].resolve(text)

            settings = session.static_settings(task, tt)
            if settings is None:
                scope = session.reference_scope(plan)
                scopes.append(scope)
                raw = task.settings_raw if task.settings_raw is not None else {}
                if tt.resolve_references:
                    raw = resolve_deep(raw, scope)
                settings = tt.settings_model.model_validate(raw)
            params = _key_value_parameters(tt, settings, session.job_parameters)
            result.params = params or None
            ctx = TaskContext(
                run_id=session.run_id, job_id=session.job_id, job_name=session.job.name, task_key=task.task_key,
                task_run_id=plan.task_run_id, attempt_number=plan.attempt_number,
                execution_count=plan.attempt_number + 1, parameters=params,
                job_parameters=dict(session.job_parameters),
                task_values=TaskValues(session.task_values, task.task_key),
                logger=session.task_logger(task.task_key), workspace=session.workspace,
                base_dir=session.base_dir, cancel_event=plan.cancel_event,
                spark_provider=binder,
                resolver=resolver, services=session.services, task=task, input_value=plan.input_value,
                log_path=log_path, run=session.handle, redactions=session.redactions)
            with activate(ctx):
                session.pm.hook.lakeloom_before_task(ctx=ctx)
                with task_environment(ctx, session.job, task, session.base_dir):
                    if tt.needs_spark or session.spark_started():
                        # Start (or join) the shared session and own this thread's Spark jobs, also
                        # for code that reaches Spark without ctx (a wheel's getOrCreate()).
                        ctx.spark  # noqa: B018
                    output = tt.run(ctx, settings) or TaskOutput()
                result.output = _redacted(ctx, output.output)
                result.condition_outcome = output.condition_outcome
                result.child_run_ids = list(output.child_run_ids)
                _call_quietly(session, "lakeloom_after_task", ctx=ctx, output=output, result_state=st.SUCCESS)
        except BaseException as e:  # noqa: BLE001 - a task may raise anything, SystemExit included
            cancelled = plan.cancel_event.is_set() or isinstance(e, TaskCancelled)
            result.result_state = st.CANCELED if cancelled else st.FAILED
            result.error_type = type(e).__name__
            text = with_worker_cause(with_cloud_hint(f"{type(e).__name__}: {e}"), e)
            result.message = ctx.redact(text) if ctx else text
            trace = traceback.format_exc()
            worker = python_worker_error(e)
            if worker is not None:
                trace += f"\nRoot cause, in a Spark Python worker:\n{worker.traceback}\n"
            result.trace = ctx.redact(trace) if ctx else trace
            if isinstance(e, TaskFailed) and ctx is not None:
                result.output = _redacted(ctx, e.output.output)
                result.child_run_ids = list(e.output.child_run_ids)
            sink.write(trace)
            if ctx is not None:
                with activate(ctx):
                    _call_quietly(session, "lakeloom_on_task_error", ctx=ctx, error=e)
                    _call_quietly(session, "lakeloom_after_task", ctx=ctx, output=TaskOutput(),
                                  result_state=result.result_state)
    binder.release()
    jvm_lines = task_lines(jvm_log, jvm_start, task.task_key)
    if jvm_lines:  # the JVM log lines this task caused, next to its own output
        sink.write("\n--- Spark driver log (this task) ---\n" + jvm_lines)
    if result.params:  # resolved from upstream task values, which may hold a secret
        result.params = redact_value(result.params, session.redactions)
    sink.close()
    return result


def _redacted(ctx: TaskContext, output: Any) -> Any:
    return redact_value(output, ctx.redactions)


def _call_quietly(session: RunSession, hook: str, **kwargs: Any) -> None:
    # a broken observer must not change the task's result, nor keep other plugins from the event
    call_each(getattr(session.pm.hook, hook), session.log, **kwargs)
