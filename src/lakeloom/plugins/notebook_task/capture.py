"""Per-cell capture of stdout/stderr, by thread, on top of whatever else captures.

``sys.stdout``/``sys.stderr`` are wrapped (once; re-wrapped if someone replaced
them) by a tee that forwards every write unchanged and also hands it to the cell
recorder registered on the writing thread, so parallel notebooks never mix and the
engine's own log capture still sees everything.
"""
from __future__ import annotations

import io
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TextIO

_local = threading.local()
_lock = threading.Lock()

StreamCallback = Callable[[str, str], None]


class _Tee(io.TextIOBase):
    def __init__(self, inner: TextIO, name: str) -> None:
        self._inner = inner
        self.name = name

    def write(self, text: str) -> int:  # type: ignore[override]
        recorder: StreamCallback | None = getattr(_local, "recorder", None)
        if recorder is not None and text:
            recorder(self.name, text)
        self._inner.write(text)
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def ensure_installed() -> None:
    """Wrap ``sys.stdout``/``sys.stderr`` unless they already are our tees."""
    if isinstance(sys.stdout, _Tee) and isinstance(sys.stderr, _Tee):
        return
    with _lock:
        if not isinstance(sys.stdout, _Tee):
            sys.stdout = _Tee(sys.stdout, "stdout")
        if not isinstance(sys.stderr, _Tee):
            sys.stderr = _Tee(sys.stderr, "stderr")


@contextmanager
def recording(callback: StreamCallback) -> Iterator[None]:
    """Send this thread's stdout/stderr writes to ``callback(name, text)`` too."""
    ensure_installed()
    previous = getattr(_local, "recorder", None)
    _local.recorder = callback
    try:
        yield
    finally:
        _local.recorder = previous
