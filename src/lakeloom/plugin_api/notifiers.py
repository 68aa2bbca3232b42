"""The notification contract: what a notifier plugin receives and how it reports failure.

A notifier plugin returns :class:`Notifier` objects from ``lakeloom_notifiers``; each
owns one destination ``type`` (``email``, ``slack``, ``webhook``, ...). The built-in
``notifications`` plugin decides which events go where (``email_notifications``,
``webhook_notifications``, ``notification_settings``, health rules, SQL alerts),
delivers them on a background thread with retries and backoff, and records every
attempt in the store; a failing destination never fails or delays a run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lakeloom.config import Workspace

#: Event types, named like Databricks' webhook ``event_type`` values.
ON_START = "jobs.on_start"
ON_SUCCESS = "jobs.on_success"
ON_FAILURE = "jobs.on_failure"
ON_DURATION_WARNING = "jobs.on_duration_warning_threshold_exceeded"
ALERT_TRIGGERED = "alerts.on_triggered"
DASHBOARD_SNAPSHOT = "dashboards.on_snapshot"

#: ``email_notifications`` / ``webhook_notifications`` key of each event type.
EVENT_FIELDS = {ON_START: "on_start", ON_SUCCESS: "on_success", ON_FAILURE: "on_failure",
                ON_DURATION_WARNING: "on_duration_warning_threshold_exceeded"}


@dataclass(frozen=True)
class Attachment:
    """A file sent with a notification (dashboard subscriptions attach the snapshot's PDF)."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Notification:
    """One event about a run (or one of its tasks), as every notifier sees it."""

    event_type: str
    job_id: int
    job_name: str
    run_id: int
    run_page_url: str
    state: dict[str, Any] = field(default_factory=dict)  # the Run's ``state`` (life_cycle_state, result_state, ...)
    task_key: str | None = None
    task_run_id: int | None = None
    failing_tasks: list[dict[str, str]] = field(default_factory=list)  # [{task_key, result_state, error}]
    message: str = ""
    trigger: str | None = None
    start_time: int | None = None
    duration_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None  # replaces the generated title (a subscription's custom_subject)
    attachments: list[Attachment] = field(default_factory=list)  # notifiers that cannot attach ignore them

    @property
    def outcome(self) -> str:
        return str(self.state.get("result_state") or self.state.get("life_cycle_state") or "")

    @property
    def title(self) -> str:
        if self.subject:
            return self.subject
        what = {ON_START: "started", ON_SUCCESS: "succeeded", ON_FAILURE: f"failed ({self.outcome})",
                ON_DURATION_WARNING: "is running longer than expected",
                ALERT_TRIGGERED: "alert triggered"}.get(self.event_type, self.event_type)
        subject = f"task {self.task_key} of job {self.job_name}" if self.task_key else f"job {self.job_name}"
        return f"[lakeloom] Run {self.run_id} of {subject} {what}"

    def text(self) -> str:
        """A plain-text body: job, run, state, failing tasks with their errors, the link."""
        lines = [self.title, "", f"Job: {self.job_name} (job_id {self.job_id})", f"Run: {self.run_id}",
                 f"State: {self.outcome}"]
        if self.task_key:
            lines.append(f"Task: {self.task_key}")
        if self.trigger:
            lines.append(f"Trigger: {self.trigger}")
        if self.duration_seconds is not None:
            lines.append(f"Duration: {self.duration_seconds:.1f} s")
        if self.message:
            lines.append(f"Message: {self.message}")
        for t in self.failing_tasks:
            lines.append(f"Failing task {t['task_key']} ({t.get('result_state', '')}): {t.get('error', '')}")
        lines += ["", f"Run page: {self.run_page_url}"]
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The JSON body webhooks receive."""
        return {"event_type": self.event_type, "job_id": self.job_id, "job_name": self.job_name,
                "run_id": self.run_id, "run_page_url": self.run_page_url, "state": self.state,
                "task_key": self.task_key, "task_run_id": self.task_run_id, "failing_tasks": self.failing_tasks,
                "message": self.message, "trigger": self.trigger, "start_time": self.start_time,
                "duration_seconds": self.duration_seconds, **({"extra": self.extra} if self.extra else {})}


class DeliveryError(Exception):
    """A delivery failed. ``retryable`` failures (network errors, HTTP 5xx and 429) are retried."""

    def __init__(self, message: str, *, retryable: bool = True, http_status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.http_status = http_status


class Notifier(Protocol):
    """A destination type. ``send`` raises :class:`DeliveryError` on failure and returns the
    HTTP status (or None for non-HTTP transports) on success. Called on the delivery thread."""

    key: str

    def send(self, note: Notification, destination: dict[str, Any], workspace: Workspace) -> int | None: ...


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body``; return the status, raising DeliveryError (retryable on 5xx/429/network)."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured destinations
            return int(resp.status)
    except urllib.error.HTTPError as e:
        raise DeliveryError(f"HTTP {e.code} from {url}", retryable=e.code >= 500 or e.code == 429,
                            http_status=e.code) from None
    except (urllib.error.URLError, OSError) as e:
        raise DeliveryError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None
