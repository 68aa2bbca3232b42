"""``lakeloom pipeline run | dry-run | runs``: declarative pipelines outside a job."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lakeloom.pipelines.runner import UpdateOptions
    from lakeloom.pipelines.spec import LoadedPipeline


def _split(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def _workspace(ctx: click.Context) -> Any:
    state = ctx.find_root().obj
    return state.workspace()


def _load(ctx: click.Context, ref: str | None) -> tuple[Any, LoadedPipeline]:
    """The pipeline REF; without one, the ``spark-pipeline.yaml|yml`` that ``spark-pipelines``
    would run from here (this folder or the nearest ancestor with one)."""
    from pathlib import Path

    from lakeloom.pipelines.spec import find_spark_pipeline_spec, load_pipeline
    from lakeloom.spec.loader import JobSpecError

    ws = _workspace(ctx)
    try:
        if ref is None:
            ref = str(find_spark_pipeline_spec(Path.cwd()))
        return ws, load_pipeline(ref, base_dir=Path.cwd(), workspace=ws)
    except JobSpecError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def pipeline() -> None:
    """Declarative Delta pipelines (pyspark.pipelines, legacy dlt, SQL)."""


def _update(ctx: click.Context, ref: str | None, options: UpdateOptions, no_daemon: bool) -> None:
    from lakeloom.cli.daemon.client import forward

    code = forward(ctx.find_root().obj, no_daemon)
    if code is not None:
        ctx.exit(code)
    from lakeloom.pipelines.runner import PipelineUpdateFailed, iter_results, run_update
    from lakeloom.plugin_manager import plugin_spark_conf
    from lakeloom.runtime.spark import SparkSessionProvider

    ws, loaded = _load(ctx, ref)
    from lakeloom.cli import warm

    command = warm.current()
    provider = command.spark if command is not None else SparkSessionProvider(
        ws, plugin_conf=plugin_spark_conf(ws), app_name=f"lakeloom-pipeline-{loaded.spec.name}")
    verb = "dry run" if options.dry_run else "update"
    click.echo(f"pipeline {loaded.spec.name} ({loaded.label}) -> {loaded.spec.catalog}.{loaded.spec.schema_name}")
    try:
        result = run_update(provider.get(), loaded, ws, options)
        failed = None
    except PipelineUpdateFailed as e:
        result, failed = e.result, e
    finally:
        provider.stop()
    for d in iter_results(result):
        detail = d.schema if options.dry_run else f"{d.rows_written} rows"
        inputs = f" <- {', '.join(d.inputs)}" if d.inputs else ""
        click.echo(f"  {d.name:<28} {d.kind:<18} {d.status:<10} {detail}{inputs}")
        if d.error:
            click.echo(f"      {d.error}", err=True)
    click.echo(f"{verb} {result.update_id} {result.status} in {result.seconds:.1f}s")
    if failed is not None:
        raise click.ClickException(str(failed))


@pipeline.command("run")
@click.argument("ref", required=False)
@click.option("--full-refresh", is_flag=True, help="Truncate every streaming table and reset its checkpoints.")
@click.option("--refresh", "refresh", metavar="A,B", help="Update only these datasets.")
@click.option("--full-refresh-selection", metavar="A,B", help="Fully refresh only these datasets.")
@click.option("--no-daemon", is_flag=True, help="Start Spark in this process instead of using a warm driver.")
@click.pass_context
def run_cmd(ctx: click.Context, ref: str | None, full_refresh: bool, refresh: str | None,
            full_refresh_selection: str | None, no_daemon: bool) -> None:
    """Run one update of the pipeline REF (a *.pipeline.yml, bundle.yml::key, or a pipeline name;
    by default the spark-pipeline.yaml|yml of this folder or above, as spark-pipelines does)."""
    from lakeloom.pipelines.runner import UpdateOptions

    if full_refresh and full_refresh_selection:
        raise click.UsageError("--full-refresh and --full-refresh-selection cannot be combined")
    _update(ctx, ref, UpdateOptions(full_refresh=full_refresh, refresh_selection=_split(refresh),
                                    full_refresh_selection=_split(full_refresh_selection)), no_daemon)


@pipeline.command("dry-run")
@click.argument("ref", required=False)
@click.option("--no-daemon", is_flag=True, help="Start Spark in this process instead of using a warm driver.")
@click.pass_context
def dry_run_cmd(ctx: click.Context, ref: str | None, no_daemon: bool) -> None:
    """Build and validate the graph of REF and resolve every dataset's schema; write nothing."""
    from lakeloom.pipelines.runner import UpdateOptions

    _update(ctx, ref, UpdateOptions(dry_run=True), no_daemon)


@pipeline.command("runs")
@click.argument("ref", required=False)
@click.option("--limit", default=20, show_default=True, help="Show the most recent N updates.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def runs_cmd(ctx: click.Context, ref: str | None, limit: int, as_json: bool) -> None:
    """Updates of the pipeline REF from its event log (no JVM is started)."""
    import json
    from pathlib import Path

    from lakeloom.pipelines.eventlog import read_events, summarize

    try:
        ws, loaded = _load(ctx, ref)
        storage = loaded.storage_dir(ws)
    except click.ClickException:
        if ref is None:
            raise
        ws = _workspace(ctx)
        storage = ws.state_dir / "pipelines" / ref
        if not storage.is_dir() and not Path(ref).is_dir():
            raise
        storage = storage if storage.is_dir() else Path(ref)
    updates = summarize(read_events(storage))[-limit:]
    if as_json:
        click.echo(json.dumps([{**u.__dict__, "started": _ts(u.started), "ended": _ts(u.ended)} for u in updates],
                              indent=2))
        return
    if not updates:
        click.echo(f"no updates recorded in {storage}")
        return
    from lakeloom.cli.render import table

    table(f"Updates of {ref or loaded.spec.name}", ["update", "started", "seconds", "status", "datasets", "rows", "dropped",
                                "failed expect.", "error"],
          [[u.update_id, _ts(u.started), f"{(u.ended - u.started).total_seconds():.1f}" if u.ended else "",
            u.status, str(u.datasets), str(u.rows_written), str(u.dropped_records), str(u.failed_records),
            (u.error or "")[:80]] for u in updates])
    checks = [(u, x) for u in updates for x in u.expectations]
    if checks:
        table(f"Expectations of {ref or loaded.spec.name}", ["update", "dataset", "expectation", "action", "passed", "failed",
                                         "dropped"],
              [[u.update_id, x["dataset"], x["name"], x["action"], str(x["passed_records"]),
                str(x["failed_records"]), str(x["dropped_records"])] for u, x in checks])


def _ts(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""
