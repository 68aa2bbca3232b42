"""The server side of warm runs: CLI commands run on a Spark driver that is already up.

A :class:`WarmHost` listens for clients of one workspace (see :mod:`.protocol`) and runs
each request as the cold process would: the same click command, on a thread of its own
whose working directory is the client's, whose stdout/stderr go to the client (threads it
starts included, as :mod:`lakeloom.runtime.logcapture` routes them), rendered for the
client's terminal, with a ``newSession()`` of the warm session. ``lakeloom daemon`` and
``lakeloom serve`` both host one.
"""
from __future__ import annotations

import ctypes
import hmac
import importlib
import logging
import os
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import lakeloom
from lakeloom.cli import render, warm
from lakeloom.cli.daemon import protocol
from lakeloom.cli.daemon.freshness import CodeWatch
from lakeloom.runtime.derived_session import DerivedSession

if TYPE_CHECKING:
    from lakeloom.config import Workspace

log = logging.getLogger("lakeloom.daemon")


class ClientSink:
    """Where a command's stdout and stderr go: to its client, as ``o``/``e`` messages.

    Log records have no terminal in a cold process either (they go to task logs only), so
    ``write`` (what the logging route calls) drops them.
    """

    closed = False

    def __init__(self, channel: protocol.Channel, tty: dict[str, bool]) -> None:
        self._channel = channel
        self._tty = tty

    def write(self, text: str) -> None:
        pass

    def write_to(self, stream: str, text: str) -> None:
        self._channel.send({"e" if stream == "<stderr>" else "o": text})

    def isatty_for(self, stream: str) -> bool:
        return self._tty.get("stderr" if stream == "<stderr>" else "stdout", False)


class _Output:
    """A command's output: the client sink and the consoles rendering for its terminal."""

    def __init__(self, sink: ClientSink, out: Any, err: Any) -> None:
        self.sink, self.out, self.err = sink, out, err

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Send what this thread (and threads it starts) prints to the client."""
        from lakeloom.runtime import logcapture

        with logcapture.capture(self.sink), render.use_consoles(self.out, self.err):  # type: ignore[arg-type]
            yield


def _consoles(hello: dict[str, Any]) -> tuple[Any, Any]:
    from rich.console import Console

    term = {k: v for k, v in (hello.get("terminal") or {}).items() if isinstance(v, str)}
    tty = hello.get("tty") or {}
    return (Console(width=None if tty.get("stdout") else 160, _environ=term),
            Console(stderr=True, width=None if tty.get("stderr") else 160, _environ=term))


def _raise_in(thread: threading.Thread, exc: type[BaseException]) -> None:
    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc))


class WarmHost:
    """Serves ``lakeloom`` commands of ``workspace`` on a warm Spark driver.

    ``warm_session`` returns the driver's session (starting it if needed), ``spark_started``
    tells whether it runs, and ``driver_conf`` returns the settings it was started with (a
    command whose workspace asks for other settings is refused, so it runs cold or on a
    restarted daemon).
    """

    def __init__(self, workspace: Workspace, *, kind: str, warm_session: Callable[[], Any],
                 spark_started: Callable[[], bool], driver_conf: Callable[[], dict[str, str]],
                 on_stop: Callable[[], None] | None = None) -> None:
        self.workspace = workspace
        self.kind = kind
        self._warm_session = warm_session
        self._spark_started = spark_started
        self._driver_conf = driver_conf
        self._on_stop = on_stop
        self.token = secrets.token_urlsafe(32)
        self.started = time.time()
        self.spark_state = "starting"
        self.last_activity = time.monotonic()
        self.commands = 0
        self._active: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._code = CodeWatch()
        # Taken before Spark starts: launching it adds variables (PYSPARK_PYTHON, ...) of its own.
        self._env = protocol.relevant_env(os.environ)
        self._sock: socket.socket | None = None
        self.info: protocol.DriverInfo | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> protocol.DriverInfo:
        """Listen on 127.0.0.1 and record the driver in the workspace."""
        from lakeloom.runtime import logcapture

        logcapture.install()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        self._sock = sock
        self.info = protocol.DriverInfo(pid=os.getpid(), port=sock.getsockname()[1], token=self.token,
                                        kind=self.kind, started=self.started, python=sys.executable,
                                        lakeloom=lakeloom.__file__ or "")
        protocol.write_info(self.workspace.state_dir, self.info)
        threading.Thread(target=self._accept, name="lakeloom-warm-accept", daemon=True).start()
        return self.info

    def close(self) -> None:
        """Stop listening and forget the record (running commands are left to the caller)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        protocol.remove_info(self.workspace.state_dir, os.getpid())

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def idle_seconds(self) -> float:
        return 0.0 if self.active else time.monotonic() - self.last_activity

    def interrupt_all(self) -> None:
        """Interrupt every running command (the driver is stopping)."""
        with self._lock:
            running = list(self._active.values())
        for thread in running:
            _raise_in(thread, KeyboardInterrupt)

    def join_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            running = list(self._active.values())
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "pid": os.getpid(), "workspace": str(self.workspace.root),
                "started": self.started, "spark": self.spark_state, "active": self.active,
                "commands": self.commands, "idle_seconds": round(self.idle_seconds(), 1)}

    # --- connections ------------------------------------------------------------------

    def _accept(self) -> None:
        while self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="lakeloom-warm-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        channel = protocol.Channel(conn)
        try:
            hello = channel.recv()
            if hello is None:
                return
            if not hmac.compare_digest(str(hello.get("token", "")).encode(), self.token.encode()):
                channel.send({"refused": "bad token", "restart": False})
                return
            op = hello.get("op")
            if op == "status":
                channel.send(self.status())
            elif op == "stop":
                channel.send({"stopping": True})
                if self._on_stop is not None:
                    self._on_stop()
            elif op == "run":
                self._run(channel, hello)
            else:
                channel.send({"refused": f"unknown op {op!r}", "restart": False})
        except Exception:
            log.exception("warm request failed")
        finally:
            channel.close()

    # --- commands ---------------------------------------------------------------------

    def _refusal(self, hello: dict[str, Any]) -> tuple[str, bool] | None:
        """Why this request must run cold (and whether a restarted daemon could take it)."""
        if not _same_file(hello.get("python"), sys.executable) or not _same_file(hello.get("lakeloom"),
                                                                                lakeloom.__file__):
            return "the client is another Python installation", False
        env = self._env
        theirs = hello.get("env") or {}
        differ = sorted(k for k in set(env) | set(theirs) if env.get(k) != theirs.get(k))
        if differ:
            return f"environment differs ({', '.join(differ)})", True
        changed = self._code.lakeloom_changed()
        if changed:
            return f"lakeloom's code changed ({changed[0]})", True
        wanted = self._wanted_conf(hello.get("target"))
        if wanted is not None:
            have = {k: v for k, v in self._driver_conf().items() if k != "spark.app.name"}
            if wanted != have:
                keys = sorted(k for k in set(wanted) | set(have) if wanted.get(k) != have.get(k))
                return f"Spark settings differ ({', '.join(keys[:3])})", True
        return None

    def _wanted_conf(self, target: str | None) -> dict[str, str] | None:
        from lakeloom.config import load_workspace
        from lakeloom.plugin_manager import plugin_spark_conf
        from lakeloom.runtime.spark import spark_conf

        ws = load_workspace(self.workspace.root, target)
        return {k: v for k, v in spark_conf(ws, plugin_spark_conf(ws)).items() if k != "spark.app.name"}

    def _admit(self, thread: threading.Thread) -> str | None:
        """Register a command thread, dropping changed user code first; a reason to refuse."""
        with self._lock:
            changed = self._code.user_changed()
            if changed:
                if self._active:
                    return f"code changed ({changed[0]}) while another command runs"
                sc = self._warm_session().sparkContext if self._spark_started() else None
                dropped = self._code.drop_user_modules(sc)
                log.info("code changed (%s): dropped %d user modules", changed[0], len(dropped))
            self._active[id(thread)] = thread
            self.commands += 1
        return None

    def _run(self, channel: protocol.Channel, hello: dict[str, Any]) -> None:
        refusal = self._refusal(hello)
        if refusal is not None:
            log.info("sent a command back to its client: %s", refusal[0])
            # A restart would interrupt the commands of other clients: this one runs cold instead.
            channel.send({"refused": refusal[0], "restart": refusal[1] and not self.active})
            return
        command = warm.WarmCommand(spark=DerivedSession(self._warm_session, self._driver_conf))
        output = _Output(ClientSink(channel, {k: bool(v) for k, v in (hello.get("tty") or {}).items()}),
                         *_consoles(hello))
        finished = threading.Event()
        thread = threading.Thread(target=self._execute, args=(channel, hello, command, output, finished),
                                  name=f"lakeloom-warm-{self.commands + 1}", daemon=True)
        reason = self._admit(thread)
        if reason is not None:
            log.info("sent a command back to its client: %s", reason)
            channel.send({"refused": reason, "restart": False})
            return
        try:
            thread.start()
            interrupted = False
            while not finished.is_set():
                message = channel.recv()
                if finished.is_set():
                    break
                if message is None:  # the client went away (a second Ctrl-C): stop the command
                    self._interrupt(command, thread, output)
                    break
                if message.get("signal") == "INT" and not interrupted:
                    interrupted = True
                    self._interrupt(command, thread, output)
            thread.join()
        finally:
            with self._lock:
                self._active.pop(id(thread), None)
            self.last_activity = time.monotonic()

    def _interrupt(self, command: warm.WarmCommand, thread: threading.Thread, output: _Output) -> None:
        if command.interrupt_handlers:
            with output.applied():  # what the handler prints goes to the client too
                for handler in list(command.interrupt_handlers):
                    try:
                        handler()
                    except Exception:
                        log.exception("interrupt handler failed")
            return
        # As SIGINT does in a cold process: the command's Spark jobs stop, KeyboardInterrupt follows.
        spark = command.spark
        if isinstance(spark, DerivedSession):
            spark.interrupt()
        _raise_in(thread, KeyboardInterrupt)

    def _execute(self, channel: protocol.Channel, hello: dict[str, Any], command: warm.WarmCommand,
                 output: _Output, finished: threading.Event) -> None:
        from lakeloom.runtime.workdir import working_directory

        code = 1
        try:
            with working_directory(Path(hello["cwd"])), output.applied(), warm.running(command):
                code = _invoke([str(a) for a in hello.get("argv") or []])
        except BaseException:  # noqa: BLE001 - whatever happens, the client gets an exit code
            output.sink.write_to("<stderr>", traceback.format_exc())
        finally:
            command.spark.stop()
            with self._lock:  # before the client hears the end: it may edit the code right after
                self._code.observe()
            finished.set()
            channel.send({"exit": code})


def _same_file(a: Any, b: str | None) -> bool:
    """Whether two paths name one file (``python`` and ``python3.11`` of one venv do)."""
    return bool(a and b) and os.path.realpath(str(a)) == os.path.realpath(str(b))


def _invoke(argv: list[str]) -> int:
    """Run ``lakeloom ARGV`` on this thread as the console script would; its exit code."""
    cli = importlib.import_module("lakeloom.cli.main").cli
    try:
        cli.main(args=argv, prog_name="lakeloom", standalone_mode=True)
    except SystemExit as e:
        if e.code is None:
            return 0
        if isinstance(e.code, int):
            return e.code
        print(e.code, file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    return 0
