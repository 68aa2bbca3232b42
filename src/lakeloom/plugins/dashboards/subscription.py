"""``dashboard_task.subscription``: after a refresh, each subscriber gets the snapshot as a
PDF (a PNG when Chromium cannot print a PDF) through the notification plugins.

``{user_name: <email>}`` goes to the ``email`` notifier (SMTP from ``notifications.email``);
``{destination_id: <id>}`` to the destination of that id in ``notifications.destinations``
(whatever its type's notifier can carry: Slack and webhooks get the text and the link).
A delivery failure is reported in the task output; it never fails the refresh.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.plugin_api import DASHBOARD_SNAPSHOT, Attachment, DeliveryError, Notification

if TYPE_CHECKING:
    from lakeloom.plugin_api import TaskContext
    from lakeloom.plugins.dashboards.model import Dashboard
    from lakeloom.plugins.dashboards.task import Subscription


def render_attachment(snapshot: dict[str, Any], stem: str) -> tuple[Attachment | None, str | None]:
    """The snapshot as a PDF, else a PNG; (attachment, error when neither could be made)."""
    from lakeloom.plugins.dashboards.export import ExportError, export_snapshot

    errors = []
    with tempfile.TemporaryDirectory(prefix="lakeloom-subscription-") as tmp:
        for kind, mime in (("pdf", "application/pdf"), ("png", "image/png")):
            target = Path(tmp) / f"{stem}.{kind}"
            try:
                export_snapshot(snapshot, kind, target)
                return Attachment(target.name, mime, target.read_bytes()), None
            except ExportError as e:
                errors.append(str(e))
    return None, "; ".join(errors)


def _destination(ctx: TaskContext, subscriber: Any) -> tuple[str, dict[str, Any]]:
    if subscriber.user_name:
        return subscriber.user_name, {"type": "email", "to": [subscriber.user_name]}
    dest_id = str(subscriber.destination_id or "")
    dest = ctx.workspace.notification_destinations.get(dest_id)
    if dest is None:
        raise DeliveryError(f"unknown notification destination {dest_id!r} (see notifications.destinations)",
                            retryable=False)
    return dest_id, dest


def send_snapshot(ctx: TaskContext, dash: Dashboard, snapshot_path: Path,
                  subscription: Subscription) -> list[dict[str, Any]]:
    """Deliver the snapshot to every subscriber; one ``{subscriber, status, error}`` each."""
    snapshot = json.loads(snapshot_path.read_text(encoding="utf-8"))
    attachment, attach_error = render_attachment(snapshot, dash.key)
    notifiers: dict[str, Any] = {}
    hook = ctx.run.hook if ctx.run is not None else None
    for items in (hook.lakeloom_notifiers() if hook is not None else []):
        for notifier in items or []:
            notifiers.setdefault(notifier.key, notifier)
    failed = [name for name, w in snapshot["widgets"].items() if w.get("error")]
    message = (f"Dashboard {dash.display_name!r} refreshed at {snapshot['refreshed_at']}: "
               f"{len(snapshot['widgets']) - len(failed)}/{len(snapshot['widgets'])} widgets"
               + (f"; failed: {', '.join(failed)}" if failed else "")
               + (f"; no attachment ({attach_error})" if attach_error else ""))
    note = Notification(event_type=DASHBOARD_SNAPSHOT, job_id=ctx.job_id, job_name=ctx.job_name, run_id=ctx.run_id,
                        run_page_url=ctx.workspace.run_page_url(ctx.run_id),
                        state={"result_state": "FAILED" if failed else "SUCCESS"}, task_key=ctx.task_key,
                        message=message, subject=subscription.custom_subject
                        or f"[lakeloom] Dashboard {dash.display_name} snapshot ({snapshot['refreshed_at']})",
                        attachments=[attachment] if attachment else [])
    report = []
    for subscriber in subscription.subscribers:
        who = subscriber.user_name or subscriber.destination_id or "?"
        try:
            who, dest = _destination(ctx, subscriber)
            notifier = notifiers.get(str(dest.get("type")))
            if notifier is None:
                raise DeliveryError(f"no notifier plugin for destination type {dest.get('type')!r}")
            notifier.send(note, dest, ctx.workspace)
            report.append({"subscriber": who, "status": "SENT", "error": None})
        except DeliveryError as e:
            report.append({"subscriber": who, "status": "FAILED", "error": str(e)})
            print(f"subscription: {who}: {e}")
    return report
