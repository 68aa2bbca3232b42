"""Delivery of notifications on a background thread, with retries, backoff and a record
of every attempt in the store (``notification_deliveries``, shown by ``lakeloom runs show``).

Retries: ``notifications.retry.max_attempts`` (default 4) attempts, waiting
``backoff_seconds`` (default 1) doubling up to ``max_backoff_seconds`` (default 30)
between them, for retryable failures only (network errors, HTTP 5xx/429, SMTP 4xx).
A slow or failing destination delays only other deliveries, never a run.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeloom.plugin_api import DeliveryError, Notification, Notifier

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.store.store import RunStore

log = logging.getLogger("lakeloom.notifications")


@dataclass
class Delivery:
    note: Notification
    notifier: str  # destination type
    destination: dict[str, Any]
    label: str  # what the record shows: an address or a destination id
    attempt: int = 1


class Dispatcher:
    """One per store per process; thread-safe."""

    def __init__(self, workspace: Workspace, store: RunStore, notifiers: dict[str, Notifier]) -> None:
        self.workspace = workspace
        self.store = store
        self.notifiers = notifiers
        retry = workspace.notifications.get("retry", {}) or {}
        self.max_attempts = max(1, int(retry.get("max_attempts", 4)))
        self.backoff = float(retry.get("backoff_seconds", 1.0))
        self.max_backoff = float(retry.get("max_backoff_seconds", 30.0))
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._thread: threading.Thread | None = None

    def submit(self, delivery: Delivery, delay: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), delivery))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="lakeloom-notify", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def reject(self, delivery: Delivery, error: str) -> None:
        """Record a delivery that cannot be attempted (e.g. an unknown destination id)."""
        self._record(delivery, "FAILED", None, error)

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._busy

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery (retries included) is done; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else 60.0
                    self._cond.wait(max(0.01, wait))
                _, _, delivery = heapq.heappop(self._heap)
                self._busy += 1
            try:
                self._attempt(delivery)
            except Exception:  # never let a bug in a notifier kill the delivery thread
                log.exception("delivery to %s failed unexpectedly", delivery.label)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, d: Delivery) -> None:
        notifier = self.notifiers.get(d.notifier)
        if notifier is None:
            self._record(d, "FAILED", None, f"no notifier plugin for destination type {d.notifier!r}")
            return
        try:
            status = notifier.send(d.note, d.destination, self.workspace)
        except DeliveryError as e:
            last = d.attempt >= self.max_attempts or not e.retryable
            self._record(d, "FAILED" if last else "RETRYING", e.http_status, str(e))
            if not last:
                delay = min(self.max_backoff, self.backoff * 2 ** (d.attempt - 1))
                self.submit(Delivery(d.note, d.notifier, d.destination, d.label, d.attempt + 1), delay)
            return
        except Exception as e:  # a notifier raising anything else is a failed, non-retried delivery
            self._record(d, "FAILED", None, f"{type(e).__name__}: {e}")
            return
        self._record(d, "DELIVERED", status, None)

    def _record(self, d: Delivery, status: str, http_status: int | None, error: str | None) -> None:
        log.log(logging.INFO if status == "DELIVERED" else logging.WARNING, "notification %s for run %s to %s "
                "(%s, attempt %d): %s%s", d.note.event_type, d.note.run_id, d.label, d.notifier, d.attempt,
                status, f" - {error}" if error else "")
        try:
            self.store.record_delivery(run_id=d.note.run_id, task_run_id=d.note.task_run_id,
                                       task_key=d.note.task_key, event_type=d.note.event_type,
                                       notifier=d.notifier, destination=d.label, attempt=d.attempt,
                                       status=status, http_status=http_status, error=error)
        except Exception:
            log.exception("could not record a notification delivery")
