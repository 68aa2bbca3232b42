"""The Python root cause of a Spark error raised in a Python worker (a UDF, ``mapInPandas``).

A failing UDF reaches the driver as a ``PythonException`` ("An exception was thrown from the
Python worker: Traceback ...") when an action collects, but as a ``Py4JJavaError`` whose
Java stack buries the Python traceback under ``Caused by: ...PythonException:`` when a
Delta write or a streaming query runs it. :func:`python_worker_error` finds the traceback
in either, so task errors, task logs and the pipeline event log can lead with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_START = "Traceback (most recent call last):"
_MARKERS = ("PythonException", "An exception was thrown from the Python worker")
_JAVA_FRAME = re.compile(r"^\s+at [\w$.<>]+\(.*\)\s*$|^\s*\.\.\. \d+ more\s*$|^Caused by: |^\s*Suppressed: ")


@dataclass(frozen=True)
class WorkerError:
    """The Python traceback from the worker and its last line (``ZeroDivisionError: ...``)."""

    traceback: str
    summary: str


def _texts(e: BaseException) -> list[str]:
    texts, seen = [], set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        java = getattr(current, "java_exception", None)
        if java is not None:
            try:
                texts.append(str(java.toString()))
            except Exception:  # the JVM may be gone; the Python text is enough then
                pass
        current = current.__cause__ or current.__context__
    return texts


def python_worker_error(e: BaseException) -> WorkerError | None:
    """The worker's Python traceback inside ``e`` (or its causes), or None."""
    for text in _texts(e):
        if not any(m in text for m in _MARKERS) or _START not in text:
            continue
        lines = text[text.index(_START):].splitlines()
        block: list[str] = []
        for line in lines:
            if block and _JAVA_FRAME.match(line):
                break
            block.append(line.rstrip())
        while block and not block[-1].strip():
            block.pop()
        summary = next((ln.strip() for ln in reversed(block) if ln.strip() and not ln.startswith((" ", "\t"))), "")
        if summary and summary != _START:
            return WorkerError("\n".join(block), summary)
    return None


def with_worker_cause(message: str, e: BaseException) -> str:
    """``message`` led by the worker's root cause when ``e`` came from a Python worker."""
    found = python_worker_error(e)
    if found is None or found.summary in message.splitlines()[0]:
        return message
    return f"{found.summary} (in a Spark Python worker)\n{found.traceback}\n\n{message}"
