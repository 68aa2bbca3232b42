"""The ``lakeloom daemon`` process: one warm Spark driver for one workspace.

Started detached by :func:`lakeloom.cli.daemon.client.start_daemon` as
``python -m lakeloom.cli.daemon.process --workspace ROOT``. It records itself in
``.lakeloom/daemon/daemon.json``, starts Spark in the background (``daemon.warm_spark:
false`` leaves it to the first command) and serves commands (see :mod:`.host`) until
``lakeloom daemon stop``, SIGTERM, ``daemon.idle_timeout`` seconds without a command, or
until its record is gone or names another driver (the workspace was deleted, or ``lakeloom
serve`` took over). Its own log is ``.lakeloom/daemon/daemon.log``.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from typing import Any

from lakeloom.cli.daemon import protocol
from lakeloom.cli.daemon.host import WarmHost

log = logging.getLogger("lakeloom.daemon")

DEFAULT_IDLE_TIMEOUT = 900.0


def idle_timeout(settings: dict) -> float:  # type: ignore[type-arg]
    """``daemon.idle_timeout`` in seconds (default 15 minutes)."""
    value = (settings.get("daemon") or {}).get("idle_timeout", DEFAULT_IDLE_TIMEOUT)
    return float(value)


def warm_driver(spark: Any) -> None:
    """Pay what every first command would: class loading of a session, a query and a job,
    and the imports of the run path."""
    import importlib

    for module in ("lakeloom.cli.main", "lakeloom.cli.progress", "lakeloom.engine.api", "lakeloom.store.run_shape",
                   "lakeloom.pipelines.runner", "rich.live"):
        importlib.import_module(module)
    session = spark.newSession()
    session.sql("SHOW CATALOGS").collect()
    session.range(4).selectExpr("sum(id)").collect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lakeloom-daemon")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--target")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from lakeloom.config import load_workspace
    from lakeloom.plugin_manager import plugin_spark_conf
    from lakeloom.runtime import delta_warmup
    from lakeloom.runtime.spark import SparkSessionProvider

    delta_warmup.keep_warm()  # this driver outlives its commands
    ws = load_workspace(args.workspace, args.target)
    ws.ensure_state_dir()
    provider = SparkSessionProvider(ws, plugin_conf=plugin_spark_conf(ws), app_name="lakeloom-daemon")
    driver_conf = provider.conf()
    stop = threading.Event()
    host = WarmHost(ws, kind="daemon", warm_session=provider.get, spark_started=lambda: provider.started,
                    driver_conf=lambda: driver_conf, on_stop=stop.set)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    info = host.start()
    timeout = idle_timeout(ws.settings)
    log.info("lakeloom daemon %s for %s on 127.0.0.1:%s (idle timeout %gs)", info.pid, ws.root, info.port, timeout)

    def warm_up() -> None:
        t0 = time.monotonic()
        try:
            warm_driver(provider.get())
            host.spark_state = "warm"
            log.info("Spark is warm after %.1fs", time.monotonic() - t0)
        except Exception as e:  # commands will try again and report it themselves
            host.spark_state = f"failed: {type(e).__name__}: {e}"
            log.exception("could not start Spark")
        host.last_activity = time.monotonic()

    if (ws.settings.get("daemon") or {}).get("warm_spark", True) in (False, "false", "off"):
        host.spark_state = "on demand"  # the first command starts it
    else:
        threading.Thread(target=warm_up, name="lakeloom-daemon-warmup", daemon=True).start()
    while not stop.wait(min(1.0, max(0.1, timeout / 4))):
        if host.idle_seconds() > timeout:
            log.info("idle for %gs: stopping", timeout)
            break
        current = protocol.read_info(ws.state_dir)
        if current is None or current.pid != info.pid:
            log.info("the workspace no longer names this daemon: stopping")
            break
    host.close()
    if host.active:
        log.info("interrupting %d running command(s)", host.active)
        host.interrupt_all()
        host.join_all(30)
    provider.stop()
    log.info("stopped")
    # Spark's and py4j's non-daemon threads must not keep a stopped daemon alive.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
