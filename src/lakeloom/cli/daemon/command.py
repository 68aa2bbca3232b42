"""``lakeloom daemon start | stop | status``: the workspace's warm Spark driver."""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from lakeloom.processes import pid_alive


@click.group()
def daemon() -> None:
    """A warm Spark driver for this workspace, so `run` and `pipeline run` skip JVM start.

    Started on first use unless warm runs are off (--no-daemon, LAKELOOM_DAEMON=0,
    daemon.enabled: false; off by default when CI is set); stops after daemon.idle_timeout
    seconds (default 900) without a command. A running `lakeloom serve` serves the same way.
    """


@daemon.command()
@click.option("--no-wait", is_flag=True, help="Return once it listens, before Spark is up.")
@click.pass_obj
def start(state: Any, no_wait: bool) -> None:
    """Start the daemon (no-op when a warm driver already runs) and wait until Spark is up."""
    from lakeloom.cli.daemon.client import start_daemon, status

    ws = state.workspace()
    t0 = time.monotonic()
    info = start_daemon(ws, state.target, quiet=True, wait_warm=not no_wait)
    if info is None:
        sys.exit(1)
    now = status(ws) or {}
    click.echo(f"lakeloom {info.kind} pid {info.pid} for {ws.root}: Spark {now.get('spark', 'unknown')} "
               f"({time.monotonic() - t0:.1f} s)")
    if str(now.get("spark", "")).startswith("failed"):
        sys.exit(1)


@daemon.command()
@click.pass_obj
def stop(state: Any) -> None:
    """Stop the workspace's daemon (a `lakeloom serve` is stopped as a server instead)."""
    from lakeloom.cli.daemon import protocol
    from lakeloom.cli.daemon.client import stop_daemon

    ws = state.workspace()
    info = protocol.read_info(ws.state_dir)
    if info is not None and info.kind != "daemon" and pid_alive(info.pid):
        click.echo(f"the warm driver of {ws.root} is a `lakeloom {info.kind}` (pid {info.pid}); stop that instead")
        sys.exit(1)
    pid = stop_daemon(ws)
    click.echo(f"stopped the daemon (pid {pid})" if pid else f"no daemon runs for {ws.root}")


@daemon.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def status_cmd(state: Any, as_json: bool) -> None:
    """Whether a warm driver serves this workspace; exit 1 when none does."""
    from lakeloom.cli.daemon.client import enabled, status

    ws = state.workspace()
    now = status(ws)
    if as_json:
        click.echo(json.dumps(now))
    elif now is None:
        click.echo(f"no warm driver for {ws.root} (warm runs {'on' if enabled(ws) else 'off'})")
    else:
        click.echo(f"lakeloom {now['kind']} pid {now['pid']} for {now['workspace']}: Spark {now['spark']}, "
                   f"{now['active']} command(s) running, {now['commands']} served, "
                   f"up {time.time() - now['started']:.0f} s, idle {now['idle_seconds']:.0f} s")
    sys.exit(0 if now else 1)
