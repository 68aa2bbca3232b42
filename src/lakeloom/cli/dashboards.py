"""``lakeloom dashboards list|refresh|export``: AI/BI dashboards of the workspace."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def dashboards() -> None:
    """AI/BI (.lvdash.json) dashboards: list, refresh into a snapshot, export."""


def _workspace() -> object:
    from lakeloom.cli.state import State

    state = click.get_current_context().find_object(State)
    assert state is not None
    return state


@dashboards.command("list")
def list_dashboards() -> None:
    """Every dashboard (bundle, workspace dashboards/ folder, packages) and its last refresh."""
    from lakeloom.plugin_manager import build_plugin_manager
    from lakeloom.plugins.dashboards import discovery, snapshots

    state = _workspace()
    ws = state.workspace()  # type: ignore[attr-defined]
    pm = build_plugin_manager(ws.disabled_plugins)
    found = discovery.discover(ws, pm.hook)
    if not found:
        click.echo("no dashboards (add dashboards/<name>.lvdash.json or bundle resources.dashboards)")
    for key, entry in sorted(found.items()):
        files = snapshots.history(ws, key)
        last = files[-1].name.split("-", 1)[0] if files else "never refreshed"
        click.echo(f"{key}\t{entry.display_name}\t{entry.origin}\t{entry.path}\t{last}")


@dashboards.command()
@click.argument("key")
@click.option("--param", "-p", "params", multiple=True, help="Dataset parameter keyword=value (repeatable).")
def refresh(key: str, params: tuple[str, ...]) -> None:
    """Refresh KEY now, as a one-task run (recorded like any run, with its snapshot)."""
    from lakeloom.cli.state import parse_params
    from lakeloom.spec.models import Job

    from lakeloom.plugins.dashboards.discovery import DashboardNotFound, find

    state = _workspace()
    engine = state.engine()  # type: ignore[attr-defined]
    try:
        find(engine.workspace, key, engine.pm.hook)
    except DashboardNotFound as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    job = Job.model_validate({"name": f"dashboard refresh: {key}", "tasks": [
        {"task_key": "refresh", "dashboard_task": {"dashboard_id": key, "filters": parse_params(params)}}]})
    try:
        final = engine.execute(engine.prepare(job, base_dir=engine.workspace.root))
    finally:
        engine.stop_spark()
    state_ = final.get("state", {})
    click.echo(f"run {final.get('run_id')}: {state_.get('result_state')} {state_.get('state_message') or ''}".rstrip())
    click.echo(f"see {engine.workspace.public_url}/dashboards/{key}")
    sys.exit(0 if state_.get("result_state") == "SUCCESS" else 1)


@dashboards.command()
@click.argument("key")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="Self-contained HTML snapshot.")
@click.option("--png", "png_file", type=click.Path(dir_okay=False), help="PNG screenshot (through Chromium).")
@click.option("--pdf", "pdf_file", type=click.Path(dir_okay=False), help="PDF (through Chromium).")
def export(key: str, html_file: str | None, png_file: str | None, pdf_file: str | None) -> None:
    """Write KEY's latest snapshot as HTML, PNG or PDF."""
    from lakeloom.plugins.dashboards import export as exporter

    if not (html_file or png_file or pdf_file):
        raise click.UsageError("give --html FILE, --png FILE or --pdf FILE")
    ws = _workspace().workspace()  # type: ignore[attr-defined]
    try:
        for kind, target in (("html", html_file), ("png", png_file), ("pdf", pdf_file)):
            if target:
                exporter.export(ws, key, kind, Path(target))
                click.echo(f"wrote {target}")
    except exporter.ExportError as e:
        raise click.ClickException(str(e)) from None
