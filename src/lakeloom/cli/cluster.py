"""``lakeloom cluster start|stop|status``: a local Spark standalone cluster for trying cluster
mode on one machine (see :mod:`lakeloom.runtime.standalone`)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from lakeloom.cli.state import State, pass_state


def _cluster_dir(state: State) -> Path:
    from lakeloom.runtime.standalone import cluster_dir

    return cluster_dir(state.workspace().state_dir)


@click.group()
def cluster() -> None:
    """A local Spark standalone cluster (master + workers on 127.0.0.1) for `run`/`submit --master`."""


@cluster.command()
@click.option("--workers", default=2, show_default=True, help="Number of worker processes.")
@click.option("--cores", default=1, show_default=True, help="Cores each worker offers.")
@click.option("--memory", default="1g", show_default=True, help="Memory each worker offers (e.g. 1g, 512m).")
@click.option("--port", default=7077, show_default=True, help="Master port (0: a free one).")
@click.option("--webui-port", default=0, help="Master web UI / JSON port (default: a free one).")
@pass_state
def start(state: State, workers: int, cores: int, memory: str, port: int, webui_port: int) -> None:
    """Start a master and N workers; prints the master URL to use with --master or spark.master."""
    from lakeloom.runtime.standalone import ClusterError, start as start_cluster

    try:
        info = start_cluster(_cluster_dir(state), workers=workers, cores=cores, memory=memory, port=port,
                             webui_port=webui_port)
    except ClusterError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"master {info.master_url}  (web UI {info.master_webui}), {workers} worker(s) x "
               f"{cores} core(s) / {memory}")
    click.echo(f"use it: lakeloom run JOB with LAKELOOM_SPARK_MASTER={info.master_url}, "
               f"or lakeloom submit JOB --master {info.master_url}")


@cluster.command()
@pass_state
def stop(state: State) -> None:
    """Stop the cluster started here (workers first, then the master)."""
    from lakeloom.runtime.standalone import stop as stop_cluster

    stopped = stop_cluster(_cluster_dir(state))
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "no cluster was running")


@cluster.command()
@click.option("--json", "as_json", is_flag=True, help="Print the master's JSON state.")
@pass_state
def status(state: State, as_json: bool) -> None:
    """Workers, cores and applications as the master reports them; exit code 1 when not running."""
    from lakeloom.runtime.standalone import status as cluster_status

    info = cluster_status(_cluster_dir(state))
    if as_json:
        click.echo(json.dumps(info, indent=2))
    elif not info["running"]:
        click.echo(f"not running: {info['reason']}")
    else:
        m = info["master"]
        click.echo(f"master {info['master_url']} ({m.get('status')}), web UI {info['master_webui']}")
        click.echo(f"workers alive: {m.get('aliveworkers')}, cores {m.get('coresused')}/{m.get('cores')} used, "
                   f"memory {m.get('memoryused')}/{m.get('memory')} MB used")
        for w in m.get("workers", []):
            click.echo(f"  {w.get('id')}  {w.get('state')}  cores {w.get('coresused')}/{w.get('cores')}")
        for app in m.get("activeapps", []):
            click.echo(f"  app {app.get('id')}  {app.get('name')}  {app.get('state')}  cores {app.get('cores')}")
    if not info["running"]:
        raise SystemExit(1)
