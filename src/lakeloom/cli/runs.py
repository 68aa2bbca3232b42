"""``lakeloom runs list | show | logs | output | cancel | repair``: the run history."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from lakeloom.cli.state import State, exit_with_run, parse_params, pass_state

if TYPE_CHECKING:
    from lakeloom.store.records import TaskRunRecord


@click.group()
def runs() -> None:
    """Inspect, cancel and repair runs."""


@runs.command("list")
@click.option("--limit", default=25, show_default=True)
@click.option("--job", "job_name", help="Only runs of this job name.")
@click.option("--active", is_flag=True, help="Only runs still in progress.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def runs_list(state: State, limit: int, job_name: str | None, active: bool, as_json: bool) -> None:
    """The most recent runs."""
    from lakeloom.cli.render import fmt_duration, fmt_time, state_text, table

    store = state.engine().store
    job_ids = [j.job_id for j in store.find_jobs(job_name)] if job_name else [None]
    rows = []
    for jid in job_ids:
        rows += store.list_runs(job_id=jid, active_only=active, limit=limit)
    rows = sorted(rows, key=lambda r: r.run_id, reverse=True)[:limit]
    if as_json:
        from lakeloom.store.run_shape import run_shape

        click.echo(json.dumps([run_shape(store, r.run_id, include_tasks=False) for r in rows], indent=2))
        return
    table("Runs", ["run_id", "job", "state", "trigger", "started", "duration"], [
        [str(r.run_id), r.run_name, state_text(r.result_state or r.life_cycle_state), r.trigger_type,
         fmt_time(r.start_time), fmt_duration(r.start_time, r.end_time)] for r in rows])


def _run_or_fail(state: State, run_id: int) -> dict[str, Any]:
    from lakeloom.store.run_shape import run_shape

    run = run_shape(state.engine().store, run_id)
    if run is None:
        raise click.ClickException(f"no run {run_id}")
    return run


@runs.command("show")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The Jobs API Run object.")
@pass_state
def runs_show(state: State, run_id: int, as_json: bool) -> None:
    """One run with its tasks, attempts and errors."""
    run = _run_or_fail(state, run_id)
    if as_json:
        click.echo(json.dumps(run, indent=2, default=str))
        return
    from lakeloom.cli.render import show_run

    show_run(run, state.engine().store)


@runs.command("logs")
@click.argument("run_id", type=int)
@click.argument("task_key")
@click.option("--attempt", type=int, help="Attempt number (default: the latest).")
@pass_state
def runs_logs(state: State, run_id: int, task_key: str, attempt: int | None) -> None:
    """Print the captured log of a task attempt."""
    engine = state.engine()
    rows = [r for r in engine.store.task_runs(run_id) if r.task_key == task_key and r.log_path]
    if attempt is not None:
        rows = [r for r in rows if r.attempt_number == attempt]
    if not rows:
        raise click.ClickException(f"no log for task {task_key!r} in run {run_id}")
    for r in rows if attempt is None and rows[-1].iteration is not None else rows[-1:]:
        if r.iteration is not None:
            click.echo(f"--- iteration {r.iteration} attempt {r.attempt_number} ---")
        p = engine.workspace.resolve_stored(r.log_path)
        click.echo(p.read_text(errors="replace") if p.exists() else "(the task wrote no output)\n", nl=False)


@runs.command("output")
@click.argument("run_id", type=int)
@click.argument("task_key")
@click.option("--iteration", type=int, help="For-each iteration index (default: every iteration).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def runs_output(state: State, run_id: int, task_key: str, iteration: int | None, as_json: bool) -> None:
    """A task's output (notebook exit value, SQL result, return value); for the nested task of
    a for-each, each iteration's."""
    from lakeloom.store.run_shape import task_output

    store = state.engine().store
    rows = [r for r in store.task_runs(run_id) if r.task_key == task_key]
    top = [r for r in rows if r.iteration is None]
    latest: dict[int, TaskRunRecord] = {}  # iteration -> its last attempt
    for r in rows:
        if r.iteration is not None and (iteration is None or r.iteration == iteration):
            latest[r.iteration] = r
    if iteration is not None and not latest:
        raise click.ClickException(f"no iteration {iteration} of task {task_key!r} in run {run_id}")
    if not top and not latest:
        raise click.ClickException(f"no task {task_key!r} in run {run_id}")
    if top and iteration is None:
        picked = [(None, top[-1])]
    else:
        picked = sorted(latest.items(), key=lambda kv: kv[0])
    outputs = [(i, task_output(store, r.task_run_id) or {}) for i, r in picked]
    if as_json:
        doc = outputs[0][1] if picked[0][0] is None or iteration is not None else {
            str(i): out for i, out in outputs}
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    for i, out in outputs:
        if i is not None and iteration is None:
            click.echo(f"--- iteration {i} ---")
        _print_output(out)


def _print_output(out: dict) -> None:
    nb = out.get("notebook_output")
    if nb is not None:
        click.echo(f"exit value: {nb.get('result')}")
    if out.get("executed_notebook"):
        click.echo(f"executed notebook: {out['executed_notebook']}")
    for k, v in out.items():
        if k not in ("metadata", "notebook_output", "executed_notebook"):
            click.echo(f"{k}: {json.dumps(v, default=str) if not isinstance(v, str) else v}")


@runs.command("cancel")
@click.argument("run_id", type=int)
@pass_state
def runs_cancel(state: State, run_id: int) -> None:
    """Cancel a running run (the process driving it stops its tasks)."""
    from lakeloom.catalog.audit import cli_event

    if not state.engine().cancel(run_id):
        cli_event(state.workspace(), "cancel", {"run_id": run_id}, status_code=400, error_message="not running")
        raise click.ClickException(f"run {run_id} is not running")
    cli_event(state.workspace(), "cancel", {"run_id": run_id})
    click.echo(f"cancel requested for run {run_id}")


@runs.command("repair")
@click.argument("run_id", type=int)
@click.option("--rerun-tasks", help="Comma-separated task keys to rerun.")
@click.option("--rerun-all-failed", is_flag=True, help="Rerun every failed, timed-out or cancelled task.")
@click.option("--rerun-dependents", is_flag=True, help="Also rerun the tasks downstream of those.")
@click.option("--param", "-p", "params", multiple=True, help="Override a job parameter k=v.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def runs_repair(state: State, run_id: int, rerun_tasks: str | None, rerun_all_failed: bool, rerun_dependents: bool,
                params: tuple[str, ...], as_json: bool) -> None:
    """Rerun tasks of a finished run inside the same run id."""
    from lakeloom.catalog.audit import cli_event
    from lakeloom.cli.progress import repair_with_progress

    if bool(rerun_tasks) == rerun_all_failed:
        raise click.UsageError("give exactly one of --rerun-tasks or --rerun-all-failed")
    engine = state.engine()
    try:
        final = repair_with_progress(engine, run_id, rerun_tasks=rerun_tasks.split(",") if rerun_tasks else None,
                                     rerun_all_failed=rerun_all_failed, rerun_dependents=rerun_dependents,
                                     params=parse_params(params), quiet=as_json)
    except ValueError as e:
        cli_event(state.workspace(), "repairRun", {"run_id": run_id}, status_code=400, error_message=str(e))
        raise click.ClickException(str(e)) from None
    finally:
        engine.stop_spark()
    cli_event(state.workspace(), "repairRun", {"run_id": run_id}, result=json.dumps({"repair_id": final.get(
        "repair_history", [{}])[-1].get("id") if final.get("repair_history") else None}))
    exit_with_run(final, as_json)


# --- plugins and setup --------------------------------------------------------------
