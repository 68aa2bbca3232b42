"""``lakeloom jobs pause|unpause NAME``: stop or resume a deployed job's schedule, trigger or
continuous runs (recorded in the store; `serve` picks it up within seconds)."""
from __future__ import annotations

from typing import Any

import click


def _set(state: Any, name: str, status: str) -> None:
    from lakeloom.store.store import open_store

    ws = state.workspace()
    ws.ensure_state_dir()
    store = open_store(ws.store_url)
    found = [j for j in store.deployed_jobs() if j.name == name or str(j.job_id) == name]
    if not found:
        raise click.ClickException(f"no deployed job named {name!r} (deploy it with `lakeloom deploy`)")
    for j in found:
        store.set_pause(j.job_id, status, "cli")
        click.echo(f"{j.name} (job_id {j.job_id}): {status}")


@click.command("pause")
@click.argument("name")
@click.pass_obj
def pause(state: Any, name: str) -> None:
    """Pause a job's schedule/trigger/continuous runs (NAME or job id)."""
    _set(state, name, "PAUSED")


@click.command("unpause")
@click.argument("name")
@click.pass_obj
def unpause(state: Any, name: str) -> None:
    """Resume a paused job (NAME or job id)."""
    _set(state, name, "UNPAUSED")
