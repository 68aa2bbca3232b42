"""Built-in plugin: the ``email`` destination type (SMTP, optional STARTTLS and login).

SMTP settings come from ``notifications.email`` (used by ``email_notifications``) or from
a destination ``{type: email, to: [...], host, port, ...}``; ``password`` may be a
``{{secrets/scope/key}}`` reference.
"""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import DeliveryError, Notification, Notifier

if TYPE_CHECKING:
    from lakeloom.config import Workspace


class EmailNotifier:
    key = "email"

    def send(self, note: Notification, destination: dict[str, Any], workspace: Workspace) -> int | None:
        smtp = {**(workspace.notifications.get("email") or {}), **destination}
        to = smtp.get("to") or []
        if isinstance(to, str):
            to = [to]
        if not to:
            raise DeliveryError("email destination without recipients", retryable=False)
        if not smtp.get("host"):
            raise DeliveryError("no SMTP host: set notifications.email.host", retryable=False)
        msg = EmailMessage()
        msg["Subject"] = note.title
        msg["From"] = smtp.get("from") or "lakeloom@localhost"
        msg["To"] = ", ".join(to)
        msg["X-Lakeloom-Event"] = note.event_type
        msg.set_content(note.text())
        for item in note.attachments:
            maintype, _, subtype = item.content_type.partition("/")
            msg.add_attachment(item.data, maintype=maintype, subtype=subtype or "octet-stream", filename=item.filename)
        timeout = float(smtp.get("timeout_seconds", 10))
        try:
            with smtplib.SMTP(str(smtp["host"]), int(smtp.get("port", 25)), timeout=timeout) as client:
                if smtp.get("starttls"):
                    client.starttls(context=ssl.create_default_context())
                if smtp.get("username"):
                    client.login(workspace.resolve_secrets(str(smtp["username"])),
                                 workspace.resolve_secrets(str(smtp.get("password", ""))))
                client.send_message(msg)
        except smtplib.SMTPResponseException as e:
            raise DeliveryError(f"SMTP {e.smtp_code}: {e.smtp_error!r}", retryable=e.smtp_code >= 400
                                and e.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"SMTP {smtp['host']}:{smtp.get('port', 25)}: {e}") from None
        return None


@hookimpl
def lakeloom_notifiers() -> list[Notifier]:
    return [EmailNotifier()]
