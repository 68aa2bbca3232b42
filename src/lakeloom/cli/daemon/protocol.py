"""How a client finds and talks to a workspace's warm driver. Stdlib only (the client is light).

The driver (``lakeloom daemon`` or ``lakeloom serve``) listens on 127.0.0.1 and writes
``.lakeloom/daemon/daemon.json`` (folder 0700, file 0600): its pid, port, kind and a random
token that every request must carry. Whoever can read that file can run code as the
driver's user, which is no more than they could do with the workspace already.

Messages are JSON objects, one per line. The client opens with a *hello* (``op``: ``run``,
``status``, ``stop``); during a run it may send ``{"signal": "INT"}``; the driver streams
``{"o": text}`` / ``{"e": text}`` (stdout / stderr) and ends with ``{"exit": code}``, or
answers ``{"refused": reason, "restart": bool}`` when the command must run cold.
"""
from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

INFO_FILE = "daemon.json"
#: Environment variables that change what a command does; a warm driver only serves clients
#: whose values equal its own (a different one runs cold).
ENV_PREFIXES = ("LAKELOOM_", "DATABRICKS_", "BUNDLE_VAR_", "SPARK_", "PYSPARK_", "JAVA_", "HADOOP_", "MLFLOW_")
ENV_KEYS = ("PYTHONPATH", "TZ", "JAVA_HOME")
#: Passed in the request instead (or only about the daemon itself).
ENV_IGNORED = ("LAKELOOM_WORKSPACE", "LAKELOOM_TARGET", "LAKELOOM_DAEMON")
#: What the driver needs to render for the client's terminal.
TERMINAL_KEYS = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")


@dataclass(frozen=True)
class DriverInfo:
    """The content of ``daemon.json``."""

    pid: int
    port: int
    token: str
    kind: str  # "daemon" or "serve"
    started: float
    python: str
    lakeloom: str


def daemon_dir(state_dir: Path) -> Path:
    """``<workspace>/.lakeloom/daemon``, created private to the user."""
    d = state_dir / "daemon"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def read_info(state_dir: Path) -> DriverInfo | None:
    """The workspace's warm driver as recorded, or None (no file, unreadable, malformed)."""
    try:
        data = json.loads((state_dir / "daemon" / INFO_FILE).read_text())
        return DriverInfo(**{k: data[k] for k in DriverInfo.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_info(state_dir: Path, info: DriverInfo) -> None:
    """Record ``info`` atomically, readable by the owner only."""
    d = daemon_dir(state_dir)
    tmp = d / f".{INFO_FILE}.{info.pid}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(info), f)
    os.replace(tmp, d / INFO_FILE)


def remove_info(state_dir: Path, pid: int) -> None:
    """Forget the recorded driver if it is process ``pid`` (another may have taken over)."""
    info = read_info(state_dir)
    if info is not None and info.pid == pid:
        try:
            (state_dir / "daemon" / INFO_FILE).unlink()
        except FileNotFoundError:
            pass


def relevant_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The variables that must be equal in client and driver for a warm run."""
    return {k: v for k, v in environ.items()
            if (k.startswith(ENV_PREFIXES) or k in ENV_KEYS) and k not in ENV_IGNORED}


class Channel:
    """One connection: JSON lines in both directions; ``send`` is thread-safe."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")
        self._send_lock = threading.Lock()
        self.broken = False

    def send(self, message: dict[str, Any]) -> bool:
        """Send one message; False when the peer is gone."""
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self._send_lock:
            if self.broken:
                return False
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                self.broken = True
                return False

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None at end of stream (or a broken connection)."""
        try:
            line = self._reader.readline()
        except OSError:
            return None
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def close(self) -> None:
        for closer in (self._reader.close, lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                closer()
            except OSError:
                pass


def connect(info: DriverInfo, timeout: float = 5.0) -> Channel:
    """Open a channel to the driver (raises OSError when nobody listens)."""
    sock = socket.create_connection(("127.0.0.1", info.port), timeout=timeout)
    sock.settimeout(None)
    return Channel(sock)
