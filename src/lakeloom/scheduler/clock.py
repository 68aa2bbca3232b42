"""The scheduler's clocks. The trigger-kind contract itself (``TriggerKind``, ``Fire``,
``Decision``, ``JobEntry``, ``TriggerEnv``) lives in :mod:`lakeloom.plugin_api`.
"""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Time source of the scheduler (injectable: tests pass a :class:`ManualClock`)."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class ManualClock:
    """A clock that only moves when told to (for tests and simulations)."""

    def __init__(self, start_ms: int) -> None:
        self.t = int(start_ms)

    def now_ms(self) -> int:
        return self.t

    def advance(self, seconds: float) -> int:
        self.t += int(seconds * 1000)
        return self.t

    def set(self, ms: int) -> None:
        self.t = int(ms)
