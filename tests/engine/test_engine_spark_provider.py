"""The engine's Spark provider is created once even when tasks of concurrent runs ask at once."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import lakeloom.plugin_manager
from lakeloom.config import Workspace
from lakeloom.engine.api import Engine


def test_concurrent_first_requests_share_one_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = lakeloom.plugin_manager.plugin_spark_conf

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # widens the window in which a second thread would build its own
        return real(*args, **kwargs)

    monkeypatch.setattr(lakeloom.plugin_manager, "plugin_spark_conf", slow)
    engine = Engine.open(Workspace(root=tmp_path))
    got: list[object] = []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        got.append(engine._provider())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(p is got[0] for p in got)
    assert engine.spark_started() is False  # asking for the provider starts no JVM
