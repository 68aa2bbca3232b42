"""``lakeloom serve``: scheduler, trigger watchers, run executor and the Jobs API in one process.

The process keeps one warm SparkContext (started in the background at start-up unless
``--no-warm-spark`` / ``server.warm_spark: false``) and gives each run its own
``spark.newSession()``; ``lakeloom run`` and ``pipeline run`` of the workspace run on it too
(see :mod:`lakeloom.cli.daemon`) unless warm runs are off. On start, runs left RUNNING by a
dead process are marked FAILED (DRIVER_ERROR) and QUEUED runs resume. SIGTERM (or Ctrl-C)
drains: no new run starts, running ones get ``--drain-seconds`` to finish, then they are
cancelled and recorded CANCELED.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lakeloom.config import Workspace

log = logging.getLogger("lakeloom.serve")


class Service:
    """The parts of a serve process, wired together (also used by tests and benchmarks)."""

    def __init__(self, workspace: Workspace, *, warm_spark: bool = False, scheduler: bool = True,
                 clock: Any = None, warm_commands: bool = False) -> None:
        from lakeloom.engine.api import Engine
        from lakeloom.engine.executor import RunExecutor
        from lakeloom.scheduler.loop import Scheduler
        from lakeloom.server.app import create_app
        from lakeloom.server.context import ServerContext

        self.engine = Engine.open(workspace)  # reaps runs orphaned by a dead process
        self.executor = RunExecutor(self.engine)
        self.scheduler = Scheduler(self.executor, clock=clock) if scheduler else None
        self.warm_spark = warm_spark
        self.ctx = ServerContext.for_engine(self.engine, self.executor)
        self.drain_seconds = float(workspace.server.get("drain_grace_seconds", 30))
        self.heartbeat_seconds = float(workspace.server.get("heartbeat_seconds", 2))
        self._beating = threading.Event()
        self.app = create_app(self.ctx, on_startup=[self.start], on_shutdown=[self.stop])
        self._stopped = False
        self.warm_host: Any = None
        if warm_commands:  # `lakeloom run` & co. of this workspace use this process's Spark driver
            from lakeloom.cli.daemon.host import WarmHost

            self.warm_host = WarmHost(workspace, kind="serve", warm_session=self.engine.spark,
                                      spark_started=self.engine.spark_started, driver_conf=self._driver_conf)

    def _driver_conf(self) -> dict[str, str]:
        """The settings the engine's Spark session has or will have (asking starts no JVM)."""
        from lakeloom.plugin_manager import plugin_spark_conf
        from lakeloom.runtime.spark import spark_conf

        if self.engine.spark_provider is not None:
            return dict(self.engine.spark_provider.conf())
        return spark_conf(self.engine.workspace, plugin_spark_conf(self.engine.workspace, self.engine.pm))

    def start(self) -> None:
        from lakeloom.runtime import delta_warmup

        delta_warmup.keep_warm()  # the engine's Spark session outlives each scheduled run
        if self.warm_spark:
            threading.Thread(target=self._warm, name="lakeloom-spark-warmup", daemon=True).start()
        if self.warm_host is not None:
            self.warm_host.spark_state = "starting" if self.warm_spark else "on demand"
            self.warm_host.start()
        self.engine.store.beat()
        threading.Thread(target=self._heartbeat, name="lakeloom-heartbeat", daemon=True).start()
        self.executor.drain_queue()
        if self.scheduler is not None:
            self.scheduler.start()

    def _heartbeat(self) -> None:
        """Beat, and fail the runs of dead owners (DRIVER_ERROR) within seconds: processes on
        this host by a liveness check, on any host by a heartbeat silent for 5 intervals, so
        their jobs' schedules go on instead of skipping ticks behind a run that never ends."""
        store = self.engine.store
        while not self._beating.wait(self.heartbeat_seconds):
            try:
                store.beat()
                reaped = store.reap_orphans() + store.reap_silent_owners(int(self.heartbeat_seconds * 5000))
                for run_id in reaped:
                    log.warning("run %s: its lakeloom process died; marked FAILED (DRIVER_ERROR)", run_id)
                if reaped and self.scheduler is not None:
                    self.scheduler.wake()
            except Exception:  # the store may be briefly unreachable; beat again next time
                log.exception("heartbeat failed")

    def _warm(self) -> None:
        try:
            self.engine.spark()
            if self.warm_host is not None:
                self.warm_host.spark_state = "warm"
            log.info("Spark is warm")
        except Exception:
            log.exception("could not start Spark; runs will start it on demand")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._beating.set()
        from lakeloom.runtime import delta_warmup

        delta_warmup.keep_warm(False)
        if self.warm_host is not None:
            self.warm_host.close()
            self.warm_host.interrupt_all()
        if self.scheduler is not None:
            self.scheduler.stop()
        self.executor.shutdown(self.drain_seconds)
        self.engine.stop_spark()


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1 or server.host).")
@click.option("--port", type=int, default=None, help="Port (default 8080 or server.port).")
@click.option("--warm-spark/--no-warm-spark", default=None,
              help="Start Spark at start-up so runs do not wait for it (default: server.warm_spark, on).")
@click.option("--drain-seconds", type=float, default=None,
              help="On SIGTERM, how long running runs may finish before they are cancelled (default 30).")
@click.option("--no-scheduler", is_flag=True, help="Serve the API only; fire no schedules or triggers.")
@click.option("--deploy", "deploy_first", is_flag=True, help="Deploy the workspace's jobs before serving.")
@click.option("--log-level", default="info", show_default=True)
@click.pass_obj
def serve(state: Any, host: str | None, port: int | None, warm_spark: bool | None, drain_seconds: float | None,
          no_scheduler: bool, deploy_first: bool, log_level: str) -> None:
    """Run the scheduler, triggers, run executor and the Jobs REST API (uvicorn)."""
    import uvicorn

    ws = state.workspace()
    srv = ws.settings.setdefault("server", {}) or {}
    ws.settings["server"] = srv
    srv["host"] = host or srv.get("host") or "127.0.0.1"
    srv["port"] = port or srv.get("port") or 8080
    if drain_seconds is not None:
        srv["drain_grace_seconds"] = drain_seconds
    warm = warm_spark if warm_spark is not None else bool(srv.get("warm_spark", True))
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if deploy_first:
        from lakeloom.cli.deploy import deploy_workspace

        for line in deploy_workspace(ws):
            click.echo(line)
    from lakeloom.cli.daemon.client import enabled

    service = Service(ws, warm_spark=warm, scheduler=not no_scheduler, warm_commands=enabled(ws))
    click.echo(f"lakeloom serve on http://{srv['host']}:{srv['port']} (store {ws.store_url})", err=True)
    uvicorn.run(service.app, host=srv["host"], port=int(srv["port"]), log_level=log_level.lower(),
                timeout_graceful_shutdown=5)
