"""Per-attempt capture of stdout, stderr and ``logging`` by thread.

``sys.stdout``/``sys.stderr`` are replaced once by streams that route each write to
the sink of the task running on the writing thread (or to the real stream outside
tasks), so the output of parallel tasks never mixes. Threads a task starts inherit
its sink: ``threading.Thread.start`` is wrapped to carry it over, because threads do
not inherit thread-locals or contextvars.
"""
from __future__ import annotations

import io
import logging
import sys
import threading
from pathlib import Path
from typing import Callable, TextIO

_local = threading.local()
_install_lock = threading.Lock()
_installed = False
_inherited: dict[int, LogSink] = {}


class LogSink:
    """Where one attempt's output goes: a file, line-buffered, with secrets redacted.

    The file is created on the first write: most orchestration-only tasks print
    nothing, and creating a folder and a file per attempt was the largest per-task
    cost of the engine. A task that wrote nothing has no log file.
    """

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None, echo: TextIO | None = None) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._redact = redact
        self._lock = threading.Lock()
        self._echo = echo
        self.closed = False

    def write(self, text: str) -> None:
        if not text or self.closed:
            return
        if self._redact is not None:
            text = self._redact(text)
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8", buffering=1)
            self._file.write(text)
            if self._echo is not None:
                self._echo.write(text)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self._file is not None:
                self._file.close()


def current_sink() -> LogSink | None:
    sink = getattr(_local, "sink", None)
    if sink is None:
        sink = _inherited.get(threading.get_ident())
    return sink


class _RoutingStream(io.TextIOBase):
    def __init__(self, fallback: TextIO, name: str) -> None:
        self._fallback = fallback
        self.name = name

    def write(self, text: str) -> int:  # type: ignore[override]
        sink = current_sink()
        if sink is not None and not sink.closed:
            write_to = getattr(sink, "write_to", None)  # a sink that keeps stdout and stderr apart
            if write_to is not None:
                write_to(self.name, text)
            else:
                sink.write(text)
        else:
            self._fallback.write(text)
        return len(text)

    def flush(self) -> None:
        self._fallback.flush()

    def isatty(self) -> bool:
        # A warm driver's command writes to its client's terminal (see lakeloom.cli.daemon).
        isatty_for = getattr(current_sink(), "isatty_for", None)
        return bool(isatty_for is not None and isatty_for(self.name))

    def fileno(self) -> int:
        return self._fallback.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._fallback, "encoding", "utf-8")


class _RoutingHandler(logging.Handler):
    """Sends log records emitted on a task's thread into that task's sink."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = current_sink()
        if sink is None or sink.closed:
            return
        try:
            sink.write(self.format(record) + "\n")
        except Exception:  # a logging failure must never fail the task
            self.handleError(record)


def install() -> None:
    """Route stdout/stderr/logging by thread. Cheap; called at the start of every run.

    The stream check runs every time because test runners and CLI harnesses swap
    ``sys.stdout`` and later restore it, dropping our wrapper.
    """
    global _installed
    with _install_lock:
        if not isinstance(sys.stdout, _RoutingStream):
            sys.stdout = _RoutingStream(sys.stdout, "<stdout>")  # type: ignore[assignment]
        if not isinstance(sys.stderr, _RoutingStream):
            sys.stderr = _RoutingStream(sys.stderr, "<stderr>")  # type: ignore[assignment]
        if _installed:
            return
        handler = _RoutingHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        if logging.getLogger().level > logging.INFO:
            logging.getLogger().setLevel(logging.INFO)
        # With the root at INFO, py4j narrates every callback-server start (foreachBatch, streaming
        # listeners) into the task's log; keep its warnings only, unless someone set its level.
        if logging.getLogger("py4j").level == logging.NOTSET:
            logging.getLogger("py4j").setLevel(logging.WARNING)
        _wrap_thread_start()
        _installed = True


def _wrap_thread_start() -> None:
    original_start = threading.Thread.start
    original_bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def start(self: threading.Thread) -> None:
        sink = current_sink()
        if sink is not None:
            self._lakeloom_sink = sink  # type: ignore[attr-defined]
        original_start(self)

    # _bootstrap_inner runs on the new thread for every Thread, whatever its run().
    def bootstrap_inner(self: threading.Thread) -> None:
        sink = getattr(self, "_lakeloom_sink", None)
        if sink is None:
            return original_bootstrap(self)
        ident = threading.get_ident()
        _inherited[ident] = sink
        try:
            original_bootstrap(self)
        finally:
            _inherited.pop(ident, None)

    threading.Thread.start = start  # type: ignore[method-assign]
    threading.Thread._bootstrap_inner = bootstrap_inner  # type: ignore[attr-defined]


class capture:
    """``with capture(sink):`` routes this thread's output to ``sink``."""

    def __init__(self, sink: LogSink) -> None:
        self.sink = sink
        self._previous: LogSink | None = None

    def __enter__(self) -> LogSink:
        self._previous = getattr(_local, "sink", None)
        _local.sink = self.sink
        return self.sink

    def __exit__(self, *exc: object) -> None:
        _local.sink = self._previous
