"""``lakeloom deploy``: record the workspace's jobs (job files and installed pipeline packages)
in the store, so ``lakeloom serve`` schedules and triggers them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lakeloom.config import Workspace


def deploy_workspace(ws: Workspace, *, prune: bool = False) -> list[str]:
    """Validate and deploy every job; return one line per job. Raises ClickException on invalid jobs."""
    from sqlalchemy.exc import IntegrityError

    from lakeloom.engine.registry import workspace_jobs
    from lakeloom.engine.validate import validate_loaded
    from lakeloom.plugin_manager import build_plugin_manager
    from lakeloom.spec.cron import CronError
    from lakeloom.spec.cron import validate as validate_cron
    from lakeloom.store.store import open_store

    pm = build_plugin_manager(ws.disabled_plugins)
    ws.ensure_state_dir()
    store = open_store(ws.store_url)
    lines: list[str] = []
    problems: list[str] = []
    kept: set[int] = set()
    for loaded, source, error in workspace_jobs(ws, pm):
        if loaded is None:
            problems.append(error)
            continue
        errors = [p.format() for p in validate_loaded(loaded, pm) if p.severity == "error"]
        sched = loaded.job.schedule
        if sched is not None:
            try:
                validate_cron(sched.quartz_cron_expression, sched.timezone_id)
            except CronError as e:
                errors.append(f"{source}: schedule: {e}")
        if errors:
            problems.extend(errors)
            continue
        settings = loaded.job.model_dump(mode="json", exclude_none=True, by_alias=True)
        for _ in range(3):  # two deploys racing on one store: the loser updates the winner's row
            try:
                job_id = store.upsert_job(loaded.job.name, settings, str(loaded.source), loaded.key, deployed=True)
                break
            except IntegrityError:
                continue
        kept.add(job_id)
        lines.append(f"deployed {loaded.job.name} (job_id {job_id}) from {source}")
    if problems:
        raise click.ClickException("not deployed, invalid jobs:\n" + "\n".join(problems))
    if prune:
        for stored in store.deployed_jobs():
            if stored.source and stored.job_id not in kept:
                store.update_job(stored.job_id, deployed=False)
                lines.append(f"undeployed {stored.name} (job_id {stored.job_id}): no longer in the workspace")
    return lines


@click.command()
@click.option("--prune", is_flag=True, help="Undeploy file jobs that are no longer in the workspace.")
@click.pass_obj
def deploy(state: Any, prune: bool) -> None:
    """Record the workspace's jobs in the store for `lakeloom serve` (validates them first)."""
    for line in deploy_workspace(state.workspace(), prune=prune):
        click.echo(line)
