"""Built-in plugin: the ``slack`` destination type (an incoming-webhook ``url``).

The message names the job, the run, its state, the failing task and its error, and
links to the run page.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import DeliveryError, Notification, Notifier, http_post

if TYPE_CHECKING:
    from lakeloom.config import Workspace


def slack_message(note: Notification) -> dict[str, Any]:
    lines = [f"*{note.title}*", f"Job: *{note.job_name}* · Run: <{note.run_page_url}|{note.run_id}> · "
                                f"State: `{note.outcome}`"]
    for t in note.failing_tasks[:5]:
        lines.append(f"Failing task `{t['task_key']}`: {t.get('error', '')[:500]}")
    if note.message and not note.failing_tasks:
        lines.append(note.message[:500])
    text = "\n".join(lines)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class SlackNotifier:
    key = "slack"

    def send(self, note: Notification, destination: dict[str, Any], workspace: Workspace) -> int | None:
        url = workspace.resolve_secrets(destination.get("url") or "")
        if not url:
            raise DeliveryError("slack destination without url", retryable=False)
        body = json.dumps(slack_message(note)).encode()
        return http_post(url, body, {"Content-Type": "application/json"},
                         float(destination.get("timeout_seconds", 10)))


@hookimpl
def lakeloom_notifiers() -> list[Notifier]:
    return [SlackNotifier()]
