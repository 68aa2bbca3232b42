"""The client side of warm runs: hand a command to the workspace's warm driver.

``lakeloom run``, ``bundle run``, ``pipeline run`` and ``pipeline dry-run`` call :func:`forward`
first. When warm runs are on (``--no-daemon``, ``LAKELOOM_DAEMON`` and ``daemon.enabled``
decide; off by default when ``CI`` is set) and the driver accepts the command, the command
runs there and this process only relays its output and exit code; a daemon is started on
first use. Otherwise the command runs cold, in this process. Imports nothing heavy.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lakeloom
from lakeloom.cli import warm
from lakeloom.cli.daemon import protocol
from lakeloom.filelock import file_lock
from lakeloom.processes import pid_alive

if TYPE_CHECKING:
    from lakeloom.config import Workspace

START_TIMEOUT = 300.0
_OFF = ("0", "false", "off", "no")


def enabled(workspace: Workspace) -> bool:
    """Whether warm runs are on: ``LAKELOOM_DAEMON``, else ``daemon.enabled``, else on unless ``CI``."""
    env = os.environ.get("LAKELOOM_DAEMON")
    if env is not None and env.strip():
        return env.strip().lower() not in _OFF
    setting = (workspace.settings.get("daemon") or {}).get("enabled")
    if setting is not None:
        return str(setting).strip().lower() not in _OFF
    return os.environ.get("CI", "").strip().lower() in ("", *_OFF)


def forward(state: Any, no_daemon: bool) -> int | None:
    """Run this command in the warm driver: its exit code, or None to run it here (cold)."""
    argv = warm.entry_argv
    if no_daemon or argv is None or warm.current() is not None:
        return None
    if os.environ.get("LAKELOOM_VERBOSE"):  # Spark's log on this terminal needs this process's JVM
        return None
    ws = state.workspace()
    if not enabled(ws):
        return None
    target = state.target or os.environ.get("LAKELOOM_TARGET") or None
    request = {"op": "run", "argv": ["--workspace", str(ws.root), *(["--target", target] if target else []), *argv],
               "cwd": os.getcwd(), "target": target, "env": protocol.relevant_env(os.environ),
               "python": sys.executable, "lakeloom": lakeloom.__file__,
               "tty": {"stdout": _isatty(sys.stdout), "stderr": _isatty(sys.stderr)},
               "terminal": _terminal()}
    for attempt in range(2):
        info = protocol.read_info(ws.state_dir)
        if info is None or not pid_alive(info.pid):
            info = start_daemon(ws, target, quiet=True)
            if info is None:
                return None
        outcome = _relay(info, request)
        if isinstance(outcome, int):
            return outcome
        restart, _reason = outcome
        if not restart or info.kind != "daemon" or attempt:
            return None
        stop_daemon(ws)  # its settings or lakeloom's code are out of date: a fresh one takes the command
    return None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _terminal() -> dict[str, str]:
    term = {k: os.environ[k] for k in protocol.TERMINAL_KEYS if k in os.environ}
    if _isatty(sys.stdout) or _isatty(sys.stderr):
        size = shutil.get_terminal_size()
        term.setdefault("COLUMNS", str(size.columns))
        term.setdefault("LINES", str(size.lines))
    return term


def _relay(info: protocol.DriverInfo, request: dict[str, Any]) -> int | tuple[bool, str]:
    """Send the command and copy its output here; the exit code, or (restart?, reason)."""
    try:
        channel = protocol.connect(info)
    except OSError:
        return True, "the daemon does not answer"
    interrupts = [0]

    def on_sigint(_sig: int, _frame: Any) -> None:
        interrupts[0] += 1
        if interrupts[0] == 1:
            channel.send({"signal": "INT"})
            return
        from lakeloom.cli import render

        render.err_console.print("[red]interrupted twice: exiting now; the run will be marked failed[/red]")
        os._exit(130)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        channel.send({**request, "token": info.token})
        while True:
            message = channel.recv()
            if message is None:
                sys.stderr.write("lakeloom: the warm driver went away during the command\n")
                return 1
            if "o" in message:
                sys.stdout.write(message["o"])
                sys.stdout.flush()
            elif "e" in message:
                sys.stderr.write(message["e"])
                sys.stderr.flush()
            elif "exit" in message:
                return int(message["exit"])
            elif "refused" in message:
                return bool(message.get("restart")), str(message["refused"])
    finally:
        signal.signal(signal.SIGINT, previous)
        channel.close()


def _ask(info: protocol.DriverInfo, op: str) -> dict[str, Any] | None:
    try:
        channel = protocol.connect(info)
    except OSError:
        return None
    try:
        channel.send({"op": op, "token": info.token})
        return channel.recv()
    finally:
        channel.close()


def status(workspace: Workspace) -> dict[str, Any] | None:
    """What the workspace's warm driver reports about itself, or None when none runs."""
    info = protocol.read_info(workspace.state_dir)
    if info is None or not pid_alive(info.pid):
        return None
    answer = _ask(info, "status")
    return answer if answer and "refused" not in answer else None


def start_daemon(workspace: Workspace, target: str | None, *, quiet: bool = False,
                 wait_warm: bool = False) -> protocol.DriverInfo | None:
    """Start the workspace's daemon unless a warm driver runs; its record, or None on failure.

    ``wait_warm`` also waits until its Spark session is up. Two clients starting at once
    start one daemon (a file lock).
    """
    folder = protocol.daemon_dir(workspace.state_dir)
    with file_lock(folder / "start.lock"):
        info = protocol.read_info(workspace.state_dir)
        if info is None or not pid_alive(info.pid) or _ask(info, "status") is None:
            info = _spawn(workspace, target, folder, quiet)
    if info is not None and wait_warm:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            answer = _ask(info, "status")
            if answer is None or answer.get("spark") != "starting":
                break
            time.sleep(0.2)
    return info


def _spawn(workspace: Workspace, target: str | None, folder: Path, quiet: bool) -> protocol.DriverInfo | None:
    log_path = folder / "daemon.log"
    # -P: `-m` would put the working directory (the workspace root) first on sys.path, where a
    # cold `lakeloom run` has none: a task's module would be the root's file of that name.
    cmd = [sys.executable, "-P", "-m", "lakeloom.cli.daemon.process", "--workspace", str(workspace.root)]
    if target:
        cmd += ["--target", target]
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                cwd=workspace.root, start_new_session=True, close_fds=True)
    if not quiet or _isatty(sys.stderr):
        sys.stderr.write(f"lakeloom: started a daemon for {workspace.root} (pid {proc.pid}; "
                         "`lakeloom daemon stop` stops it)\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = protocol.read_info(workspace.state_dir)
        if info is not None and info.pid == proc.pid:
            return info
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            sys.stderr.write(f"lakeloom: the daemon could not start (exit {proc.returncode}); running here. "
                             f"Its log ({log_path}) ends:\n{tail}\n")
            return None
        time.sleep(0.05)
    return None


def stop_daemon(workspace: Workspace, timeout: float = 60.0) -> int | None:
    """Stop the workspace's daemon (not a ``serve``); its pid, or None when none ran."""
    info = protocol.read_info(workspace.state_dir)
    if info is None or info.kind != "daemon" or not pid_alive(info.pid):
        return None
    if _ask(info, "stop") is None:
        try:
            os.kill(info.pid, signal.SIGTERM)
        except ProcessLookupError:
            return None
    deadline = time.monotonic() + timeout
    while pid_alive(info.pid) and time.monotonic() < deadline:
        _reap(info.pid)
        time.sleep(0.05)
    if pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
        _reap(info.pid)
    protocol.remove_info(workspace.state_dir, info.pid)
    return info.pid


def _reap(pid: int) -> None:
    """Collect the daemon if this process started it (otherwise it stays a zombie and looks alive)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
