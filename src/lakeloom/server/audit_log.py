"""Audit of ``serve``: every API call (each is a use of an API token), dashboard sign-ins and the
dashboard's job actions become ``system.access.audit`` events (:mod:`lakeloom.catalog.audit`).

A pure ASGI middleware: it sees the request body (for ``job_id`` / ``run_id``) and the response
status and body (for the error message and the new run's id) without changing either. The
caller is whoever the route authenticated (``request.state.principal`` set by
:func:`lakeloom.server.auth.authenticate`, or the dashboard's signed-in user).
"""
from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable, MutableMapping

from lakeloom.catalog.audit import write_audit_event

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Databricks' audit action names of the Jobs service, by API path tail.
JOB_ACTIONS = {
    "create": "create", "update": "update", "reset": "reset", "delete": "delete", "run-now": "runNow",
    "runs/submit": "submitRun", "runs/cancel": "cancel", "runs/cancel-all": "cancelAllRuns",
    "runs/repair": "repairRun", "runs/delete": "deleteRun", "get": "getJob", "list": "listJobs",
    "runs/get": "getRun", "runs/list": "listRuns", "runs/get-output": "getRunOutput", "runs/export": "exportRun",
}
_API = re.compile(r"^/api/2\.[0-9]/(?P<service>[a-z-]+)/(?P<tail>.*)$")
_DASHBOARD = {
    re.compile(r"^/jobs/(?P<job_id>\d+)/run-now$"): "runNow",
    re.compile(r"^/jobs/(?P<job_id>\d+)/pause$"): "update",
    re.compile(r"^/runs/(?P<run_id>\d+)/cancel$"): "cancel",
    re.compile(r"^/runs/(?P<run_id>\d+)/repair$"): "repairRun",
}
_KEPT_PARAMS = ("job_id", "run_id", "name", "securable_type", "full_name", "latest_repair_id")
_MAX_BODY = 64 * 1024


def _camel(text: str) -> str:
    words = [w for w in re.split(r"[/_-]+", text) if w]
    return words[0] + "".join(w.capitalize() for w in words[1:]) if words else text


def classify(method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
    """``(service_name, action_name, params from the path)`` of an audited request, else None."""
    if m := _API.match(path):
        service, tail = m["service"], m["tail"].strip("/")
        if service == "jobs":
            return "jobs", JOB_ACTIONS.get(tail, _camel(tail)), {}
        if service == "unity-catalog":
            kind, _, rest = tail.partition("/")
            action = {"GET": "get", "PATCH": "update", "POST": "create", "DELETE": "delete"}.get(method, method.lower())
            securable, _, name = rest.partition("/")
            params = {"securable_type": securable, "full_name": name} \
                if kind == "permissions" else ({"full_name": rest} if rest else {})
            return "unityCatalog", _camel(f"{action}-{kind}"), params
        return service, _camel(f"{method.lower()}-{tail}"), {}
    if method == "POST" and path == "/login":
        return "accounts", "login", {}
    if method == "POST":
        for pattern, action in _DASHBOARD.items():
            if m := pattern.match(path):
                return "jobs", action, dict(m.groupdict())
    return None


def _body_params(body: bytes) -> dict[str, str]:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(data[k]) for k in _KEPT_PARAMS if data.get(k) is not None}


def _response_fields(status: int, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if status >= 400:
        message = data.get("message") if isinstance(data, dict) else None
        code = data.get("error_code") if isinstance(data, dict) else None
        return {"error_message": f"{code}: {message}" if code and message else message or None}
    if isinstance(data, dict) and "run_id" in data:
        return {"result": json.dumps({"run_id": data["run_id"]})}
    if isinstance(data, dict) and "job_id" in data and len(data) == 1:
        return {"result": json.dumps(data)}
    return {}


class AuditMiddleware:
    """ASGI middleware writing one audit event per audited request of ``serve``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = classify(scope["method"], scope["path"])
        if kind is None:
            await self.app(scope, receive, send)
            return
        request_body = bytearray()
        response_body = bytearray()
        status = [500]

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) < _MAX_BODY:
                request_body.extend(message.get("body", b""))
            return message

        async def tee_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif message["type"] == "http.response.body" and len(response_body) < _MAX_BODY:
                response_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, tee_receive, tee_send)
        finally:
            self._record(scope, kind, bytes(request_body), status[0], bytes(response_body))

    def _record(self, scope: Scope, kind: tuple[str, str, dict[str, str]], body: bytes, status: int,
                response: bytes) -> None:
        service, action, params = kind
        state = scope.get("state") or {}
        who = state.get("principal")
        ui = state.get("ui_user")
        user = who.name if who is not None else (ui.principal.name if ui is not None else None)
        if state.get("audit_error"):
            status, response = 401, json.dumps({"error_code": "UNAUTHENTICATED",
                                                "message": state["audit_error"]}).encode()
        query = dict(p.split("=", 1) for p in scope.get("query_string", b"").decode().split("&") if "=" in p)
        params = {**{k: v for k, v in query.items() if k in _KEPT_PARAMS}, **_body_params(body), **params}
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope.get("headers", [])}
        client = scope.get("client")
        ctx = scope["app"].state.ctx
        write_audit_event(ctx.engine.workspace, service_name=service, action_name=action, user=user,
                          request_params=params, status_code=status, source_ip=client[0] if client else None,
                          user_agent=headers.get("user-agent"), **_response_fields(status, response))
