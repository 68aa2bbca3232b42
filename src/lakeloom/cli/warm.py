"""What a command sees when it runs inside a warm driver (``lakeloom daemon`` or ``serve``).

A warm driver runs the same click command a cold process would, on one of its threads. The
few places that must behave differently ask :func:`current`: the command's Spark session is
a ``newSession()`` of the driver's (no JVM start, and temp views, SQL settings and the
current catalog stay per command), and Ctrl-C arrives as a message from the client instead
of a signal (handlers register with :func:`on_interrupt`). Stdlib only: the client imports
nothing heavy.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

_local = threading.local()
#: The arguments of the ``lakeloom`` console script in this process (None when the CLI is
#: driven otherwise, e.g. by click's test runner: such commands never go to a warm driver).
entry_argv: list[str] | None = None


@dataclass
class WarmCommand:
    """One command running in a warm driver, on the thread that runs it."""

    #: Provider of the command's Spark session: ``get()``, ``started``, ``stop()``.
    spark: Any
    #: What the client's first Ctrl-C does; None: the driver's default (interrupt the command).
    interrupt_handlers: list[Callable[[], None]] = field(default_factory=list)


def current() -> WarmCommand | None:
    """The warm command running on this thread, or None in a cold process."""
    return getattr(_local, "command", None)


@contextmanager
def running(command: WarmCommand) -> Iterator[WarmCommand]:
    """Mark this thread as running ``command`` for the ``with`` block."""
    saved = current()
    _local.command = command
    try:
        yield command
    finally:
        _local.command = saved


@contextmanager
def on_interrupt(handler: Callable[[], None]) -> Iterator[bool]:
    """While the block runs, the client's Ctrl-C calls ``handler`` (yields whether the command
    is warm; a cold command handles SIGINT itself)."""
    command = current()
    if command is None:
        yield False
        return
    command.interrupt_handlers.append(handler)
    try:
        yield True
    finally:
        command.interrupt_handlers.remove(handler)
