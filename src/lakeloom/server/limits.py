"""Request limits of the Jobs API, with Databricks' documented values and error shape.

- request bodies: at most ``server.max_request_bytes`` (default 10 MB), checked before the
  body is parsed; a JSON body sent as ``application/x-www-form-urlencoded`` or without a
  content type (``curl -d``, as Databricks' docs do it) is read as JSON;
- job settings: ``name`` up to 4096 bytes, ``description`` up to 27,700 characters, up to
  1000 ``tasks``, each notebook task's ``base_parameters`` up to 1 MB of JSON;
- run parameters (``job_parameters``, ``notebook_params``, ``python_params``, ...) up to
  10,000 bytes of JSON each;
- ``jobs/get`` returns 100 tasks per page (``next_page_token``), as API 2.2 does.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from lakeloom.server.errors import invalid

MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_NAME_BYTES = 4096
MAX_DESCRIPTION_CHARS = 27_700
MAX_TASKS = 1000
MAX_BASE_PARAMETERS_BYTES = 1024 * 1024
MAX_RUN_PARAMETERS_BYTES = 10_000
TASKS_PER_PAGE = 100

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_RUN_PARAMETER_FIELDS = ("job_parameters", "notebook_params", "python_params", "jar_params", "spark_submit_params",
                         "python_named_params", "sql_params")


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def check_job_settings(settings: dict[str, Any]) -> None:
    """Raise INVALID_PARAMETER_VALUE when job settings pass one of Databricks' limits."""
    name = settings.get("name") or settings.get("run_name")
    if isinstance(name, str) and len(name.encode()) > MAX_NAME_BYTES:
        raise invalid(f"name is {len(name.encode())} bytes; the maximum length is {MAX_NAME_BYTES} bytes")
    description = settings.get("description")
    if isinstance(description, str) and len(description) > MAX_DESCRIPTION_CHARS:
        raise invalid(f"description is {len(description)} characters; the maximum length is "
                      f"{MAX_DESCRIPTION_CHARS} characters")
    tasks = settings.get("tasks") or []
    if isinstance(tasks, list) and len(tasks) > MAX_TASKS:
        raise invalid(f"the job has {len(tasks)} tasks; a job supports up to {MAX_TASKS} tasks")
    for task in tasks if isinstance(tasks, list) else []:
        base = (task.get("notebook_task") or {}).get("base_parameters") if isinstance(task, dict) else None
        if base and _json_bytes(base) > MAX_BASE_PARAMETERS_BYTES:
            raise invalid(f"tasks[{task.get('task_key')}].notebook_task.base_parameters: the JSON representation "
                          f"of this field cannot exceed 1MB")


def check_run_parameters(body: dict[str, Any]) -> None:
    """Raise INVALID_PARAMETER_VALUE when a run's parameters pass 10,000 bytes of JSON."""
    for field in _RUN_PARAMETER_FIELDS:
        value = body.get(field)
        if value and _json_bytes({field: value}) > MAX_RUN_PARAMETERS_BYTES:
            raise invalid(f"{field}: the JSON representation of this field cannot exceed "
                          f"{MAX_RUN_PARAMETERS_BYTES:,} bytes")


def page_tasks(settings: dict[str, Any], page_token: str | None) -> str | None:
    """Keep one page of ``settings["tasks"]``; return the next page's token, if any."""
    start = 0
    if page_token:
        try:
            kind, _, value = base64.urlsafe_b64decode(page_token.encode()).decode().partition(":")
            if kind != "t":
                raise ValueError(kind)
            start = int(value)
        except (ValueError, UnicodeDecodeError):
            raise invalid(f"invalid page_token {page_token!r}") from None
    tasks = settings.get("tasks")
    if not isinstance(tasks, list):
        return None
    settings["tasks"] = tasks[start:start + TASKS_PER_PAGE]
    if start + TASKS_PER_PAGE < len(tasks):
        return base64.urlsafe_b64encode(f"t:{start + TASKS_PER_PAGE}".encode()).decode()
    return None


class ApiRequestGuard:
    """ASGI middleware for the API routes: caps request bodies and reads them as JSON."""

    def __init__(self, app: Any, *, prefixes: tuple[str, ...], max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.prefixes = prefixes
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or \
                not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send, int(declared))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send, size)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        # Databricks reads every body as JSON, whatever its content type says.
        scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any, size: int) -> None:
        payload = json.dumps({"error_code": "INVALID_PARAMETER_VALUE",
                              "message": f"the request body ({size:,} bytes or more) exceeds the limit of "
                                         f"{self.max_bytes:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
