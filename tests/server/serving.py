"""Helpers for server tests: a workspace, a live in-process server (real uvicorn on
127.0.0.1), real SMTP and HTTP receivers, and a `lakeloom serve` subprocess runner."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import yaml

from lakeloom.config import Workspace, load_workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Authoring code is denied by default; the test workspaces let every principal author (a
#: test that checks the entitlements passes ``authoring=False`` or its own setting).
AUTHORING_FOR_EVERYONE = {"jobs.create": ["users"], "runs.submit": ["users"]}


def make_workspace(root: Path, conf: dict[str, Any] | None = None, *, authoring: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    server: dict[str, Any] = {"warm_spark": False}
    if authoring:
        server["entitlements"] = AUTHORING_FOR_EVERYONE
    base: dict[str, Any] = {"engine": {"cancel_grace_seconds": 0.5}, "server": server}
    for k, v in (conf or {}).items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "lakeloom.yml").write_text(yaml.safe_dump(base))
    return root


def write_job(root: Path, name: str, tasks: list[dict[str, Any]], **fields: Any) -> Path:
    path = root / "jobs" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"name": name, "tasks": tasks, **fields}, sort_keys=False))
    return path


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


class LiveServer:
    """A real `Service` (engine, executor, scheduler, app) behind uvicorn in a thread."""

    def __init__(self, root: Path, *, scheduler: bool = True) -> None:
        import uvicorn

        from lakeloom.cli.serve import Service

        self.port = free_port()
        ws = load_workspace(root)
        ws.settings.setdefault("server", {}).update(host="127.0.0.1", port=self.port)
        self.service = Service(ws, scheduler=scheduler)
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.service.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20)

    @property
    def store(self) -> Any:
        return self.service.engine.store

    def token(self, principal: str, *, admin: bool = False) -> str:
        return self.store.create_token(principal, is_admin=admin)[1]

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


class WorkspaceServer:
    """serve's app on the shared Spark session's own workspace (same catalog, store and lineage)."""

    def __init__(self, workspace: Workspace) -> None:
        import uvicorn

        from lakeloom.cli.serve import Service

        self.port = free_port()
        ws = Workspace(root=workspace.root, settings={**workspace.settings, "server": {
            "host": "127.0.0.1", "port": self.port}})
        self.service = Service(ws, scheduler=False)
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.service.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20)

    @property
    def store(self) -> Any:
        return self.service.engine.store

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)



class HttpReceiver:
    """An HTTP server on 127.0.0.1 that records POSTs; `fail_first` requests answer 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_left = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    failing = receiver.fail_left > 0
                    receiver.fail_left -= 1 if failing else 0
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                              "status": 503 if failing else 200})
                self.send_response(503 if failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["status"] == 200]

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.ok()]

    def close(self) -> None:
        self.httpd.shutdown()


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 collecting messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                from email import message_from_bytes

                msg = message_from_bytes(envelope.content)
                outer.messages.append({"to": list(envelope.rcpt_tos), "msg": msg})
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def serve_process(root: Path, port: int, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`lakeloom serve` as a real subprocess (its own interpreter; Spark only if a run needs it)."""
    cmd = [sys.executable, "-m", "lakeloom.cli.main", "--workspace", str(root), "serve", "--port", str(port),
           "--log-level", "warning", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, start_new_session=True)
