"""``lakeloom bundle validate|summary|deploy|run|destroy``, mirroring ``databricks bundle``.

The bundle is found from the current folder upwards (or ``--bundle PATH``). ``validate`` and
``summary`` start no JVM; ``run`` deploys the bundle locally first (as ``databricks bundle
deploy`` would have) and runs one job, or one pipeline update.
"""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Callable

import click

from lakeloom.cli.state import EXIT_INVALID, exit_invalid, exit_with_run

if TYPE_CHECKING:
    from lakeloom.bundle import Bundle


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(",") if option == "--params" else [value]:
            if "=" not in part:
                raise click.BadParameter(f"expected name=value, got {part!r}", param_hint=option)
            k, v = part.split("=", 1)
            out[k.strip()] = v
    return out


def _options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--var", "variables", multiple=True, help='Set a variable: --var="name=value" (repeatable).')(fn)
    fn = click.option("--target", "-t", "bundle_target", envvar="DATABRICKS_BUNDLE_TARGET",
                      help="Bundle target (default: the target marked default: true).")(fn)
    fn = click.option("--bundle", "bundle_path", type=click.Path(exists=True),
                      help="The bundle folder or root file (default: found from the current folder up).")(fn)
    return fn


def _load(bundle_path: str | None, bundle_target: str | None, variables: tuple[str, ...]) -> Bundle:
    from lakeloom.bundle import load_bundle
    from lakeloom.spec.loader import JobSpecError

    try:
        bundle = load_bundle(bundle_path or ".", target=bundle_target, variables=_pairs(variables, "--var"))
    except JobSpecError as e:
        exit_invalid(e)
    for warning in bundle.warnings:
        click.echo(f"Warning: {warning.format()}", err=True)
    return bundle


@click.group()
def bundle() -> None:
    """Databricks Asset Bundles (databricks.yml): validate, deploy and run them locally."""


@bundle.command()
@_options
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def validate(state: Any, bundle_path: str | None, bundle_target: str | None, variables: tuple[str, ...],
             output: str) -> None:
    """Resolve the bundle and check everything that would fail at run time because of it."""
    from lakeloom.cli.bundle_deploy import checked_jobs, cloud_only_resources
    from lakeloom.plugin_manager import build_plugin_manager

    b = _load(bundle_path, bundle_target, variables)
    ws = state.workspace()
    pm = build_plugin_manager(ws.disabled_plugins)
    _, problems = checked_jobs(b, ws, pm)
    problems += cloud_only_resources(b, pm)
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        click.echo(f"{'Error' if p.severity == 'error' else 'Warning'}: {p.format()}", err=True)
    if output == "json":
        click.echo(json.dumps({k: v for k, v in b.config.items() if k != "targets"}, indent=2, default=str))
    else:
        _header(b)
        n = len(errors)
        click.echo(f"\nFound {n} error{'s' if n != 1 else ''}" if n else "\nValidation OK!")
    sys.exit(EXIT_INVALID if errors else 0)


def _header(b: Bundle) -> None:
    ws = b.config["workspace"]
    click.echo(f"Name: {b.name}\nTarget: {b.target}\nWorkspace:\n  User: {ws['current_user']['userName']}\n"
               f"  Path: {ws['root_path']}")


@bundle.command()
@_options
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
def summary(bundle_path: str | None, bundle_target: str | None, variables: tuple[str, ...], output: str) -> None:
    """The bundle's resources for the target, with their resolved names."""
    b = _load(bundle_path, bundle_target, variables)
    if output == "json":
        click.echo(json.dumps({"bundle": b.config["bundle"], "resources": b.resources}, indent=2, default=str))
        return
    _header(b)
    click.echo("Resources:")
    for kind, entries in b.resources.items():
        if not entries:
            continue
        click.echo(f"  {kind.replace('_', ' ').title()}:")
        for key, settings in entries.items():
            name = settings.get("name") or settings.get("display_name") or key if isinstance(settings, dict) else key
            click.echo(f"    {key}:\n      Name: {name}")


@bundle.command()
@_options
@click.pass_obj
def deploy(state: Any, bundle_path: str | None, bundle_target: str | None, variables: tuple[str, ...]) -> None:
    """Deploy locally: resolved resources, schemas and volumes, jobs recorded for `lakeloom serve`."""
    from lakeloom.cli.bundle_deploy import deploy_bundle
    from lakeloom.spec.loader import JobSpecError

    b = _load(bundle_path, bundle_target, variables)
    engine = state.engine()
    try:
        for line in deploy_bundle(b, engine):
            click.echo(line)
    except JobSpecError as e:
        exit_invalid(e)
    finally:
        engine.stop_spark()
    click.echo("Deployment complete!")


@bundle.command("run")
@click.argument("key")
@_options
@click.option("--params", "params", multiple=True, help="Job parameters: --params k1=v1,k2=v2 (repeatable).")
@click.option("--full-refresh-all", is_flag=True, help="For a pipeline: full refresh of every dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print the final run as JSON on stdout.")
@click.option("--no-daemon", is_flag=True, help="Start Spark in this process instead of using a warm driver.")
@click.pass_obj
def run(state: Any, key: str, bundle_path: str | None, bundle_target: str | None, variables: tuple[str, ...],
        params: tuple[str, ...], full_refresh_all: bool, as_json: bool, no_daemon: bool) -> None:
    """Deploy the bundle locally and run job (or pipeline) KEY, waiting for it to finish."""
    from lakeloom.cli.daemon.client import forward

    code = forward(state, no_daemon)
    if code is not None:
        sys.exit(code)
    from lakeloom.bundle.state import RESOLVED_FILE, state_dir
    from lakeloom.cli.bundle_deploy import deploy_bundle
    from lakeloom.cli.progress import run_with_progress
    from lakeloom.spec.loader import JobSpecError, LoadedJob, LineMap
    from lakeloom.spec.models import Job

    b = _load(bundle_path, bundle_target, variables)
    if key not in b.pipelines:
        try:
            b.job(key)  # a key that is no job names what it is before anything deploys
        except JobSpecError as e:
            exit_invalid(e)
    engine = state.engine()
    try:
        for line in deploy_bundle(b, engine, record_jobs=False):
            if "warning" in line.lower():
                click.echo(line, err=True)
        folder = state_dir(b, engine.workspace.state_dir)
        key = b.resource_key(key)
        if key not in b.jobs and key in b.pipelines:
            task = {"task_key": key, "pipeline_task": {"pipeline_id": f"{folder / RESOLVED_FILE}::{key}",
                                                       "full_refresh": full_refresh_all}}
            job = Job.model_validate({"name": b.pipelines[key].spec.name, "tasks": [task]})
            target: Any = LoadedJob(job, folder / RESOLVED_FILE, key, LineMap(), bundle_root=b.root)
        else:
            target = _jobs_from_state(b, folder)[str(b.job(key).key)]
        final = run_with_progress(engine, target, job_key=None, params=_pairs(params, "--params"), only=None,
                                  quiet=as_json)
        if not as_json:
            from lakeloom.cli.run_output import job_output_text

            click.echo(job_output_text(engine.store, final, engine.workspace.resolve_stored), nl=False)
    except JobSpecError as e:
        exit_invalid(e)
    finally:
        engine.stop_spark()
    exit_with_run(final, as_json)


def _jobs_from_state(b: Bundle, folder: Any) -> dict[str, Any]:
    from lakeloom.bundle.state import RESOLVED_FILE
    from lakeloom.spec.loader import load_job_documents

    return {str(d.key): d for d in load_job_documents(folder / RESOLVED_FILE)}


@bundle.command()
@_options
@click.option("--auto-approve", is_flag=True, help="Skip the confirmation.")
@click.pass_obj
def destroy(state: Any, bundle_path: str | None, bundle_target: str | None, variables: tuple[str, ...],
            auto_approve: bool) -> None:
    """Undeploy the bundle's jobs and drop the schemas and volumes its deploy created."""
    from lakeloom.cli.bundle_deploy import destroy_bundle

    b = _load(bundle_path, bundle_target, variables)
    if not auto_approve and not click.confirm(f"Destroy bundle {b.name!r} (target {b.target!r}), its deployed "
                                              "jobs, schemas and volumes?"):
        sys.exit(1)
    engine = state.engine()
    try:
        for line in destroy_bundle(b.name, b.target, engine):
            click.echo(line)
    finally:
        engine.stop_spark()
    click.echo("Destroy complete!")
