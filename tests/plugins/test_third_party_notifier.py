"""A third-party plugin adds a notification destination type through ``lakeloom_notifiers``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from harness import Harness, task  # noqa: E402

from lakeloom import hookimpl  # noqa: E402
from lakeloom.plugin_api import ON_FAILURE, DeliveryError, Notification, Notifier  # noqa: E402
from lakeloom.plugins.notify.notifications import flush_all  # noqa: E402


class InboxNotifier:
    """Keeps what it is sent; fails the first delivery to prove retries reach plugins too."""

    key = "inbox"

    def __init__(self) -> None:
        self.received: list[tuple[Notification, dict[str, Any]]] = []
        self.calls = 0

    def send(self, note: Notification, destination: dict[str, Any], workspace: Any) -> int | None:
        self.calls += 1
        if self.calls == 1:
            raise DeliveryError("inbox busy, try again")
        self.received.append((note, destination))
        return None


class InboxPlugin:
    def __init__(self) -> None:
        self.notifier = InboxNotifier()

    @hookimpl
    def lakeloom_notifiers(self) -> list[Notifier]:
        return [self.notifier]


def test_third_party_destination_type_receives_failure_notifications(tmp_path: Path) -> None:
    plugin = InboxPlugin()
    h = Harness(tmp_path, conf={"notifications": {"retry_base_seconds": 0.01, "destinations": {
        "ops-inbox": {"type": "inbox", "folder": "ops"}}}}, extra_plugins=(plugin,))
    run = h.run([task("a", "fail", params={"message": "disk full"})],
                webhook_notifications={"on_failure": [{"id": "ops-inbox"}]})
    assert run["state"]["result_state"] == "FAILED"
    flush_all(30)
    (note, dest), = plugin.notifier.received
    assert note.event_type == ON_FAILURE and note.run_id == run["run_id"]
    assert note.failing_tasks[0]["task_key"] == "a" and "disk full" in note.failing_tasks[0]["error"]
    assert dest["folder"] == "ops"
    assert plugin.notifier.calls == 2  # the first, failed delivery was retried
    infos = {i.name: i for i in h.engine.pm.describe()}
    assert any("inbox" in i.notifiers for i in infos.values())
    h.close()
