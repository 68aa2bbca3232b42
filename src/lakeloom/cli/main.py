"""The ``lakeloom`` command. Imports stay lazy so ``lakeloom --help`` is instant."""
from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from lakeloom import __version__

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine
    from lakeloom.store.records import TaskRunRecord

EXIT_INVALID = 2


class State:
    def __init__(self, workspace: str | None, target: str | None) -> None:
        self.workspace_dir = workspace
        self.target = target
        self._engine: Engine | None = None

    def workspace(self) -> Any:
        from lakeloom.config import ConfigError, load_workspace

        try:
            return load_workspace(self.workspace_dir, self.target)
        except ConfigError as e:
            raise click.ClickException(str(e)) from None

    def engine(self) -> Engine:
        if self._engine is None:
            from lakeloom.engine.api import Engine

            self._engine = Engine.open(self.workspace())
        return self._engine


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lakeloom")
@click.option("--workspace", "-w", envvar="LAKELOOM_WORKSPACE", type=click.Path(file_okay=False),
              help="Workspace folder (default: the current directory).")
@click.option("--target", "-t", envvar="LAKELOOM_TARGET", help="Config target from conf/lakeloom.yml.")
@click.option("--verbose", "-v", is_flag=True,
              help="Also show Spark's own log on the terminal (it always goes to .lakeloom/logs/).")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, target: str | None, verbose: bool) -> None:
    """Run Databricks-Workflows-style jobs on open-source Spark and Delta Lake."""
    if verbose:
        os.environ["LAKELOOM_VERBOSE"] = "1"  # read when the Spark session is configured
    ctx.obj = State(workspace, target)


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise click.BadParameter(f"expected k=v, got {p!r}", param_hint="--param")
        k, v = p.split("=", 1)
        out[k.strip()] = v
    return out


# --- validate ------------------------------------------------------------------

@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@pass_state
def validate(state: State, files: tuple[str, ...]) -> None:
    """Check job files and .lvdash.json dashboards without running anything (no JVM is started)."""
    from lakeloom.engine.validate import validate_file
    from lakeloom.plugin_manager import build_plugin_manager

    pm = build_plugin_manager(state.workspace().disabled_plugins)
    bad = 0
    for f in files:
        if f.endswith(".lvdash.json"):
            bad += _validate_dashboard(f)
            continue
        docs, problems = validate_file(f, pm)
        errors = [p for p in problems if p.severity == "error"]
        for p in problems:
            click.echo(p.format(), err=True)
        if errors:
            bad += 1
            click.echo(f"{f}: INVALID ({len(errors)} error{'s' if len(errors) != 1 else ''})", err=True)
        else:
            names = ", ".join(d.job.name for d in docs) or "no jobs"
            n = sum(len(d.job.tasks) for d in docs)
            click.echo(f"{f}: OK ({names}; {n} task{'s' if n != 1 else ''})")
    sys.exit(EXIT_INVALID if bad else 0)


def _validate_dashboard(path: str) -> int:
    from pathlib import Path

    from lakeloom.plugins.dashboards.validate import validate_dashboard_file

    problems = validate_dashboard_file(Path(path))
    for p in problems:
        click.echo(p.format(), err=True)
    if problems:
        click.echo(f"{path}: INVALID ({len(problems)} error{'s' if len(problems) != 1 else ''})", err=True)
        return 1
    click.echo(f"{path}: OK (dashboard)")
    return 0


# --- run -------------------------------------------------------------------------

@cli.command()
@click.argument("target")
@click.option("--job", "job_key", help="Job key when the file is a bundle with several jobs.")
@click.option("--param", "-p", "params", multiple=True, help="Job parameter k=v (repeatable).")
@click.option("--only", help="Run a subset: key, +key (with upstream), key+ (with downstream), comma-separated.")
@click.option("--json", "as_json", is_flag=True, help="Print the final run as JSON on stdout.")
@pass_state
def run(state: State, target: str, job_key: str | None, params: tuple[str, ...], only: str | None,
        as_json: bool) -> None:
    """Run a job (a job file or a job name) and wait for it to finish."""
    from lakeloom.cli.progress import run_with_progress
    from lakeloom.spec.loader import JobSpecError

    engine = state.engine()
    try:
        final = run_with_progress(engine, target, job_key=job_key, params=_parse_params(params),
                                  only=[s for s in only.split(",")] if only else None, quiet=as_json)
    except JobSpecError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_INVALID)
    finally:
        engine.stop_spark()
    if as_json:
        click.echo(json.dumps(final, indent=2, default=str))
    sys.exit(0 if final.get("state", {}).get("result_state") == "SUCCESS" else 1)


# --- jobs ------------------------------------------------------------------------

@cli.group()
def jobs() -> None:
    """Jobs of the workspace and of installed pipeline packages."""


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def jobs_list(state: State, as_json: bool) -> None:
    """List every job the workspace's files and installed packages provide."""
    from lakeloom.engine.registry import workspace_jobs
    from lakeloom.plugin_manager import build_plugin_manager

    ws = state.workspace()
    found = workspace_jobs(ws, build_plugin_manager(ws.disabled_plugins))
    rows = [{"name": d.job.name if d else None, "key": d.key if d else None, "tasks": len(d.job.tasks) if d else 0,
             "source": src, "error": err} for d, src, err in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from lakeloom.cli.render import table

    table("Jobs", ["name", "key", "tasks", "source"],
          [[r["name"] or "(invalid)", r["key"] or "", str(r["tasks"]), r["source"]] for r in rows])
    for r in rows:
        if r["error"]:
            click.echo(r["error"], err=True)


# --- runs ------------------------------------------------------------------------

@cli.group()
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
    from pathlib import Path

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
    if not state.engine().cancel(run_id):
        raise click.ClickException(f"run {run_id} is not running")
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
    from lakeloom.cli.progress import repair_with_progress

    if bool(rerun_tasks) == rerun_all_failed:
        raise click.UsageError("give exactly one of --rerun-tasks or --rerun-all-failed")
    engine = state.engine()
    try:
        final = repair_with_progress(engine, run_id, rerun_tasks=rerun_tasks.split(",") if rerun_tasks else None,
                                     rerun_all_failed=rerun_all_failed, rerun_dependents=rerun_dependents,
                                     params=_parse_params(params), quiet=as_json)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    finally:
        engine.stop_spark()
    if as_json:
        click.echo(json.dumps(final, indent=2, default=str))
    sys.exit(0 if final.get("state", {}).get("result_state") == "SUCCESS" else 1)


# --- plugins and setup --------------------------------------------------------------

@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_state
def plugins(state: State, as_json: bool) -> None:
    """Installed plugins and what each provides."""
    from lakeloom.plugin_manager import build_plugin_manager

    infos = build_plugin_manager(state.workspace().disabled_plugins).describe()
    if as_json:
        click.echo(json.dumps([i.__dict__ for i in infos], indent=2))
        return
    from lakeloom.cli.render import table

    table("Plugins", ["plugin", "distribution", "version", "task kinds", "triggers", "notifiers"], [
        [i.name, i.distribution, i.version, ", ".join(i.task_kinds), ", ".join(i.triggers), ", ".join(i.notifiers)]
        for i in infos])


@cli.command()
@click.option("--catalog", help="Only this catalog.")
@click.option("--schema", help="Only this schema.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def tables(state: State, catalog: str | None, schema: str | None, as_json: bool) -> None:
    """Tables in the workspace's catalog, with where their data lives (no JVM)."""
    from lakeloom.catalog.listing import list_tables

    ws = state.workspace()
    infos = list_tables(ws, catalog, schema)
    rows = [{"name": f"{t.catalog}.{t.schema}.{t.name}", "type": t.table_type, "format": t.data_source_format,
             "location": t.storage_location} for t in infos]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from lakeloom.cli.render import table

    table(f"Tables in {ws.root}", ["table", "type", "format", "location"],
          [[r["name"], r["type"] or "", r["format"] or "", r["location"] or ""] for r in rows])


@cli.command()
@pass_state
def setup(state: State) -> None:
    """Fetch the Delta Lake jars and build the table-catalog jar (idempotent)."""
    from lakeloom.runtime.spark import prepare

    for line in prepare(state.workspace()) or []:
        click.echo(line)


def _register_commands() -> None:
    from lakeloom.cli.submit import submit

    cli.add_command(submit)


_register_commands()


def _command(module: str, attr: str) -> click.Command:
    """A command from its own module (those modules import only click at module level)."""
    import importlib

    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


cli.add_command(_command("lakeloom.cli.serve", "serve"))
cli.add_command(_command("lakeloom.cli.deploy", "deploy"))
cli.add_command(_command("lakeloom.cli.tokens", "tokens"))
cli.add_command(_command("lakeloom.cli.pipeline", "pipeline"))
cli.add_command(_command("lakeloom.cli.mlflow_ui", "mlflow_group"))
cli.add_command(_command("lakeloom.cli.bundle", "bundle"))
cli.add_command(_command("lakeloom.cli.dashboards", "dashboards"))
jobs.add_command(_command("lakeloom.cli.pause", "pause"))
jobs.add_command(_command("lakeloom.cli.pause", "unpause"))


def main() -> None:
    cli(prog_name="lakeloom")


if __name__ == "__main__":
    main()
