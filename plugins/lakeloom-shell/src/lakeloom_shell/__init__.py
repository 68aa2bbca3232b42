"""lakeloom-shell: the ``shell_task`` task type, packaged like any third-party plugin.

```yaml
tasks:
  - task_key: fetch
    shell_task:
      command: ./fetch.sh --date {{job.start_time.iso_date}}
      env: {REGION: eu}
      cwd: scripts          # relative to the job file's folder
```

The command runs under ``bash -c`` in its own process group; its combined
stdout/stderr goes to the task log line by line. A non-zero exit fails the task; a
cancel or timeout terminates the whole process group.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lakeloom import hookimpl
from lakeloom.plugin_api import SpecIssue, TaskCancelled, TaskContext, TaskFailed, TaskOutput, TaskType

__version__ = "0.1.0"
__all__ = ["ShellTask", "ShellCommandFailed", "SHELL_TASK", "run", "validate", "lakeloom_task_types"]

#: Seconds between SIGTERM and SIGKILL when the process group is terminated.
KILL_GRACE_SECONDS = 5.0
#: How often the task thread checks ``ctx.cancel_event`` while the command runs.
POLL_SECONDS = 0.05
#: Trailing output kept for the ``logs`` field of ``runs/get-output``.
LOG_TAIL_BYTES = 64 * 1024
#: After the command exits, how long processes it started in the background may keep
#: its output open before they are terminated (otherwise the task would never end).
STRAGGLER_GRACE_SECONDS = 1.0
#: Output lines quoted in the error of a failed command.
ERROR_TAIL_LINES = 20

_MAX_CHUNK = 8192
_MAX_BATCH = 512


class ShellTask(BaseModel):
    """Settings of a ``shell_task`` block.

    ``command`` runs under ``bash -c``; ``env`` is added to lakeloom's environment;
    ``cwd`` is relative to the job file's folder (default: that folder).
    """

    model_config = ConfigDict(extra="forbid")

    command: str
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None

    @field_validator("env", mode="before")
    @classmethod
    def _scalars_as_strings(cls, value: Any) -> Any:
        # YAML turns `N: 1` and `DEBUG: true` into int/bool; the environment wants strings.
        if not isinstance(value, dict):
            return value
        return {k: ("true" if v else "false") if isinstance(v, bool)
                else str(v) if isinstance(v, (int, float)) else v
                for k, v in value.items()}


class ShellCommandFailed(TaskFailed):
    """The command exited with a non-zero code (or was killed by a signal); ``output`` keeps its
    ``logs`` for ``runs/get-output``, as for a command that succeeded."""

    def __init__(self, exit_code: int, last_lines: list[str], output: TaskOutput | None = None) -> None:
        how = (f"was killed by signal {signal.Signals(-exit_code).name}" if exit_code < 0
               else f"exited with code {exit_code}")
        detail = "".join(last_lines).rstrip("\n")
        super().__init__(f"shell command {how}" + (f"; last output:\n{detail}" if detail else "; no output"),
                         output)
        self.exit_code = exit_code


class _Tail:
    """The last ``limit`` bytes of output, kept as whole lines."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: deque[tuple[str, int]] = deque()
        self.size = 0
        self.truncated = False

    def add(self, line: str, nbytes: int) -> None:
        self.lines.append((line, nbytes))
        self.size += nbytes
        while self.size > self.limit and len(self.lines) > 1:
            self.size -= self.lines.popleft()[1]
            self.truncated = True

    def text(self) -> str:
        return "".join(line for line, _ in self.lines)

    def last(self, n: int) -> list[str]:
        return [line for line, _ in list(self.lines)[-n:]]


def _workdir(cwd: str | None, base_dir: Path) -> Path:
    if not cwd:
        return base_dir
    path = Path(cwd).expanduser()
    return path if path.is_absolute() else base_dir / path


class _Output:
    """Moves the command's output from a reader thread to the task log and the tail.

    The reader thread only does the blocking reads; lines are printed by the task's
    own thread because the engine captures ``sys.stdout`` per task thread.
    """

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.tail = _Tail(LOG_TAIL_BYTES)
        self.ended = False
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._pump, args=(stream,), name=name, daemon=True)
        self._reader.start()

    def _pump(self, stream: IO[bytes]) -> None:
        try:
            for chunk in iter(lambda: stream.readline(_MAX_CHUNK), b""):
                self._chunks.put(chunk)
        finally:
            stream.close()
            self._chunks.put(None)

    def forward(self, timeout: float) -> None:
        """Wait up to ``timeout`` for output, then print everything queued in one write."""
        batch: list[str] = []
        wait: float | None = timeout
        # Bounded, so a command that floods output cannot keep the caller from checking for cancel.
        while not self.ended and len(batch) < _MAX_BATCH:
            try:
                chunk = self._chunks.get(timeout=wait) if wait else self._chunks.get_nowait()
            except queue.Empty:
                break
            if chunk is None:
                self.ended = True
                break
            text = chunk.decode("utf-8", "replace")
            self.tail.add(text, len(chunk))
            batch.append(text)
            wait = None
        if batch:
            print("".join(batch), end="", flush=True)

    def drain(self, timeout: float) -> None:
        """Forward what is left until the output ends or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not self.ended and (left := deadline - time.monotonic()) > 0:
            self.forward(left)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_running_member(pgid)


def _has_running_member(pgid: int) -> bool:
    """Whether a group member is more than a zombie (Linux ``/proc``; True when unknown).

    Orphaned members that exited stay zombies until init reaps them, which some
    container inits do only every second or so; they must not delay a cancel.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split(maxsplit=3)[:3]
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's whole process group; SIGKILL what is left after the grace period."""
    pgid = proc.pid  # start_new_session=True makes the command its group's leader
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader: an unreaped zombie still counts as a group member
        if not _group_alive(pgid):
            break
        time.sleep(0.02)
    else:
        _signal_group(pgid, signal.SIGKILL)
    proc.wait()


def run(ctx: TaskContext, settings: ShellTask) -> TaskOutput:
    """Run ``settings.command``; stream its output to the task log; fail on a non-zero exit.

    Raises ``TaskCancelled`` (after terminating the process group) when
    ``ctx.cancel_event`` is set, and ``ShellCommandFailed`` on a non-zero exit.
    """
    ctx.check_cancelled()
    cwd = _workdir(settings.cwd, ctx.base_dir)
    if not cwd.is_dir():
        raise FileNotFoundError(f"shell_task cwd {str(cwd)!r} is not a directory")
    env = {**os.environ, **settings.env, "LAKELOOM_RUN_ID": str(ctx.run_id),
           "LAKELOOM_TASK_KEY": ctx.task_key, "LAKELOOM_JOB_NAME": ctx.job_name}
    proc = subprocess.Popen(["bash", "-c", settings.command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    output = _Output(proc.stdout, name=f"lakeloom-shell-{ctx.task_key}")
    exited_at: float | None = None
    try:
        while True:
            if ctx.cancel_event.is_set():
                _terminate(proc)
                output.drain(0.5)
                raise TaskCancelled(f"task {ctx.task_key!r} was cancelled; its shell command was terminated")
            if output.ended:
                if proc.poll() is not None:
                    break
                ctx.cancel_event.wait(POLL_SECONDS)
                continue
            output.forward(POLL_SECONDS)
            if not output.ended and proc.poll() is not None:
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at > STRAGGLER_GRACE_SECONDS:
                    _terminate(proc)
                    output.drain(1.0)
                    break
    finally:
        if proc.poll() is None:  # an exception on this thread must not leave the command running
            _terminate(proc)
    exit_code = proc.wait()
    tail = output.tail
    result = TaskOutput(output={"logs": tail.text(), "logs_truncated": tail.truncated, "exit_code": exit_code})
    if exit_code != 0:
        raise ShellCommandFailed(exit_code, tail.last(ERROR_TAIL_LINES), result)
    return result


def validate(settings: ShellTask, base_dir: Path) -> list[SpecIssue]:
    """Static checks: a non-empty command and an existing ``cwd`` (unless it holds a reference)."""
    issues: list[SpecIssue] = []
    if not settings.command.strip():
        issues.append(SpecIssue(field="command", message="command is empty"))
    if settings.cwd and "{{" not in settings.cwd:
        path = _workdir(settings.cwd, base_dir)
        if not path.is_dir():
            issues.append(SpecIssue(field="cwd", message=f"directory {str(path)!r} does not exist"))
    return issues


SHELL_TASK = TaskType(
    key="shell_task",
    settings_model=ShellTask,
    run=run,
    needs_spark=False,
    validate=validate,
    key_value_parameters=False,
    description="Run a bash command; its output goes to the task log.",
)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    """The ``shell_task`` task type."""
    return [SHELL_TASK]
