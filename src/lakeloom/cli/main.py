"""The ``lakeloom`` command. Imports stay lazy so ``lakeloom --help`` is instant."""
from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from lakeloom import __version__
from lakeloom.cli.state import EXIT_INVALID, State, exit_with_run, parse_params, pass_state


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


# --- validate ------------------------------------------------------------------

@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@pass_state
def validate(state: State, files: tuple[str, ...]) -> None:
    """Check job files and .lvdash.json dashboards without running anything (no JVM is started)."""
    from lakeloom.engine.validate import validate_file
    from lakeloom.plugin_manager import build_plugin_manager

    ws = state.workspace()
    pm = build_plugin_manager(ws.disabled_plugins)
    bad = 0
    for f in files:
        if f.endswith(".lvdash.json"):
            bad += _validate_dashboard(f)
            continue
        if _is_bundle_root(f):
            bad += _validate_bundle(f, state, pm)
            continue
        docs, problems = validate_file(f, pm, ws)
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


def _is_bundle_root(path: str) -> bool:
    from pathlib import Path

    from lakeloom.bundle.loader import ROOT_FILE_NAMES

    return Path(path).name in ROOT_FILE_NAMES and Path(path).is_file()


def _validate_bundle(path: str, state: State, pm: Any) -> int:
    """A bundle root file: resolved like ``lakeloom bundle validate`` (default target), so
    includes, variables and the resources plugins deploy (dashboards, ...) are checked too."""
    from lakeloom.bundle import load_bundle
    from lakeloom.cli.bundle_deploy import checked_jobs
    from lakeloom.spec.loader import JobSpecError

    try:
        b = load_bundle(path)
        _, problems = checked_jobs(b, state.workspace(), pm)
        problems = list(b.warnings) + problems
    except JobSpecError as e:
        problems = e.errors
        b = None
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        click.echo(p.format(), err=True)
    if errors or b is None:
        click.echo(f"{path}: INVALID ({len(errors)} error{'s' if len(errors) != 1 else ''})", err=True)
        return 1
    n = sum(len(j.job.tasks) for j in b.jobs.values())
    click.echo(f"{path}: OK (bundle {b.name}, target {b.target}: {len(b.jobs)} job{'s' if len(b.jobs) != 1 else ''}, "
               f"{n} task{'s' if n != 1 else ''})")
    return 0


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
@click.option("--no-daemon", is_flag=True, help="Start Spark in this process instead of using a warm driver.")
@pass_state
def run(state: State, target: str, job_key: str | None, params: tuple[str, ...], only: str | None,
        as_json: bool, no_daemon: bool) -> None:
    """Run a job (a job file or a job name) and wait for it to finish."""
    from lakeloom.cli.daemon.client import forward

    code = forward(state, no_daemon)
    if code is not None:
        sys.exit(code)
    from lakeloom.catalog.audit import cli_event
    from lakeloom.cli.progress import run_with_progress
    from lakeloom.spec.loader import JobSpecError

    engine = state.engine()
    try:
        final = run_with_progress(engine, target, job_key=job_key, params=parse_params(params),
                                  only=[s for s in only.split(",")] if only else None, quiet=as_json)
    except JobSpecError as e:
        cli_event(state.workspace(), "runNow", {"job": target}, status_code=400, error_message=str(e))
        click.echo(str(e), err=True)
        sys.exit(EXIT_INVALID)
    finally:
        engine.stop_spark()
    cli_event(state.workspace(), "runNow", {"job": target, "job_id": final.get("job_id")},
              result=json.dumps({"run_id": final.get("run_id")}))
    exit_with_run(final, as_json)


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
@click.option("--no-cds", is_flag=True, help="Do not build the driver's class-data sharing archive.")
def setup(state: State, no_cds: bool) -> None:
    """Fetch the Delta Lake jars, build the table-catalog jar and the driver's class-data
    sharing archive (idempotent; the archive takes about a minute the first time)."""
    from lakeloom.plugin_manager import plugin_spark_conf
    from lakeloom.runtime import jvm_cds
    from lakeloom.runtime.spark import prepare, spark_conf

    workspace = state.workspace()
    for line in prepare(workspace) or []:
        click.echo(line)
    if not no_cds:
        for line in jvm_cds.ensure(spark_conf(workspace, plugin_spark_conf(workspace))):
            click.echo(line)


def _register_commands() -> None:
    from lakeloom.cli.submit import submit

    cli.add_command(submit)


_register_commands()


def _command(module: str, attr: str) -> click.Command:
    """A command from its own module (those modules import only click at module level)."""
    import importlib

    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


cli.add_command(_command("lakeloom.cli.runs", "runs"))
cli.add_command(_command("lakeloom.cli.serve", "serve"))
cli.add_command(_command("lakeloom.cli.deploy", "deploy"))
cli.add_command(_command("lakeloom.cli.tokens", "tokens"))
cli.add_command(_command("lakeloom.cli.grants", "grants"))
cli.add_command(_command("lakeloom.cli.pipeline", "pipeline"))
cli.add_command(_command("lakeloom.cli.mlflow_ui", "mlflow_group"))
cli.add_command(_command("lakeloom.cli.bundle", "bundle"))
cli.add_command(_command("lakeloom.cli.dashboards", "dashboards"))
cli.add_command(_command("lakeloom.cli.daemon.command", "daemon"))
cli.add_command(_command("lakeloom.cli.cluster", "cluster"))
jobs.add_command(_command("lakeloom.cli.pause", "pause"))
jobs.add_command(_command("lakeloom.cli.pause", "unpause"))


def main() -> None:
    from lakeloom.cli import warm

    warm.entry_argv = sys.argv[1:]
    cli(prog_name="lakeloom")


if __name__ == "__main__":
    main()
