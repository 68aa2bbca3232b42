"""Built-in plugin: the ``webhook`` destination type.

POSTs :meth:`Notification.payload` as JSON. With a ``secret`` (may be a
``{{secrets/scope/key}}`` reference) the request carries ``X-Lakeloom-Signature:
sha256=<hex HMAC-SHA256 of the body>`` so the receiver can check it came from us.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import DeliveryError, Notification, Notifier, http_post

if TYPE_CHECKING:
    from lakeloom.config import Workspace

SIGNATURE_HEADER = "X-Lakeloom-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    key = "webhook"

    def send(self, note: Notification, destination: dict[str, Any], workspace: Workspace) -> int | None:
        url = workspace.resolve_secrets(destination.get("url") or "")
        if not url:
            raise DeliveryError("webhook destination without url", retryable=False)
        body = json.dumps(note.payload(), default=str).encode()
        headers = {"Content-Type": "application/json", "X-Lakeloom-Event": note.event_type}
        secret = destination.get("secret")
        if secret:
            headers[SIGNATURE_HEADER] = sign(workspace.resolve_secrets(str(secret)), body)
        return http_post(url, body, headers, float(destination.get("timeout_seconds", 10)))


@hookimpl
def lakeloom_notifiers() -> list[Notifier]:
    return [WebhookNotifier()]
