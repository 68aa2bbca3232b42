"""The separately packaged ``lakeloom-shell`` plugin, reached only through entry-point discovery."""
from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lakeloom.plugin_api import SpecIssue, TaskCancelled, TaskContext, TaskOutput, TaskType, TaskValues
from lakeloom.plugin_manager import DEFAULT_PLUGINS, LakeloomPluginManager, build_plugin_manager, plugin_name

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="shell_task needs bash and process groups")


def _plugin_manager() -> LakeloomPluginManager:
    try:
        return build_plugin_manager()
    except ModuleNotFoundError as e:
        # Built-in plugins are written in parallel; until they exist, load entry points only.
        if not (e.name or "").startswith("lakeloom.plugins."):
            raise
        return build_plugin_manager(disabled=[plugin_name(m) for m in DEFAULT_PLUGINS])


@pytest.fixture(scope="module")
def pm() -> LakeloomPluginManager:
    return _plugin_manager()


@pytest.fixture(scope="module")
def shell(pm: LakeloomPluginManager) -> TaskType:
    return pm.task_types["shell_task"]


class _DictStore:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}

    def set(self, task_key: str, key: str, value: Any) -> None:
        self.values[task_key, key] = value

    def get(self, task_key: str, key: str) -> Any:
        return self.values[task_key, key]


class ThreadStdout(io.TextIOBase):
    """A sys.stdout that records which thread wrote what, like the engine's per-thread capture."""

    def __init__(self) -> None:
        self.by_thread: dict[int, list[str]] = defaultdict(list)
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.by_thread[threading.get_ident()].append(text)
        return len(text)

    def text(self, ident: int) -> str:
        with self._lock:
            return "".join(self.by_thread.get(ident, []))


def make_ctx(base_dir: Path, cancel_event: threading.Event | None = None) -> TaskContext:
    return TaskContext(
        run_id=4242, job_id=7, job_name="nightly job", task_key="sh", task_run_id=4243, attempt_number=0,
        execution_count=1, parameters={}, job_parameters={}, task_values=TaskValues(_DictStore(), "sh"),
        logger=logging.getLogger("test.shell"), workspace=None,  # type: ignore[arg-type]
        base_dir=base_dir, cancel_event=cancel_event or threading.Event(),
        spark_provider=lambda: pytest.fail("shell_task must not ask for Spark"),
        resolver=lambda text: text, services=None,  # type: ignore[arg-type]
    )


class Running:
    """``shell.run(ctx, settings)`` on its own thread, the way the engine calls it."""

    started: list[Running] = []

    def __init__(self, shell: TaskType, ctx: TaskContext, settings: dict[str, Any]) -> None:
        self.ctx = ctx
        self.parsed = shell.settings_model.model_validate(settings)
        self.output: TaskOutput | None = None
        self.error: BaseException | None = None
        self.ident = 0
        self._thread = threading.Thread(target=self._target, args=(shell, ctx), daemon=True)
        self._thread.start()
        Running.started.append(self)

    def _target(self, shell: TaskType, ctx: TaskContext) -> None:
        self.ident = threading.get_ident()
        try:
            self.output = shell.run(ctx, self.parsed)
        except BaseException as e:  # noqa: BLE001 - the test inspects whatever was raised
            self.error = e

    def join(self, timeout: float = 20) -> Running:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "shell_task did not return"
        return self


def capture_stdout(monkeypatch: pytest.MonkeyPatch) -> ThreadStdout:
    """Install a ThreadStdout; call it in the test body, since pytest swaps sys.stdout between phases."""
    capture = ThreadStdout()
    monkeypatch.setattr(sys, "stdout", capture)
    return capture


@pytest.fixture(autouse=True)
def _stop_leftover_runs() -> Any:
    yield
    # A failed assertion must not leave a command (and a non-daemon thread) running.
    while Running.started:
        run = Running.started.pop()
        run.ctx.cancel_event.set()
        run.join()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; an exited process left as a zombie until init reaps it counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _pids(text: str, *names: str) -> dict[str, int]:
    found = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {name: int(found[name]) for name in names}


# --- discovery ----------------------------------------------------------------

def test_discovered_through_the_entry_point(pm: LakeloomPluginManager, shell: TaskType) -> None:
    assert shell.key == "shell_task"
    assert pm.owner_of("shell_task") == "shell"
    assert pm.distributions["shell"][0] == "lakeloom-shell"
    assert shell.needs_spark is False
    assert shell.key_value_parameters is False
    assert shell.validate is not None


# --- running ------------------------------------------------------------------

def test_success_streams_combined_output_on_the_task_thread(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    run = Running(shell, make_ctx(tmp_path), {"command": "echo one; echo two >&2; printf 'three'"}).join()
    assert run.error is None
    assert stdout.text(run.ident) == "one\ntwo\nthree"
    assert set(stdout.by_thread) == {run.ident}
    assert run.output is not None
    assert run.output.output == {"logs": "one\ntwo\nthree", "logs_truncated": False, "exit_code": 0}


def test_env_and_lakeloom_variables(shell: TaskType, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = capture_stdout(monkeypatch)
    monkeypatch.setenv("INHERITED_MARK", "from-parent")
    command = 'echo "$GREETING|$N|$DEBUG|$INHERITED_MARK|$LAKELOOM_RUN_ID|$LAKELOOM_TASK_KEY|$LAKELOOM_JOB_NAME"'
    run = Running(shell, make_ctx(tmp_path),
                  {"command": command, "env": {"GREETING": "hi there", "N": 3, "DEBUG": True}}).join()
    assert run.error is None
    assert stdout.text(run.ident) == "hi there|3|true|from-parent|4242|sh|nightly job\n"


def test_cwd_is_relative_to_the_job_folder(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    (tmp_path / "scripts").mkdir()
    run = Running(shell, make_ctx(tmp_path), {"command": "pwd -P", "cwd": "scripts"}).join()
    assert run.error is None
    assert stdout.text(run.ident) == f"{(tmp_path / 'scripts').resolve()}\n"


def test_cwd_defaults_to_the_job_folder(shell: TaskType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    run = Running(shell, make_ctx(tmp_path), {"command": "pwd -P"}).join()
    assert run.error is None
    assert stdout.text(run.ident) == f"{tmp_path.resolve()}\n"


def test_missing_cwd_fails_before_running(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    run = Running(shell, make_ctx(tmp_path), {"command": "touch ran", "cwd": "nope"}).join()
    assert isinstance(run.error, FileNotFoundError)
    assert "nope" in str(run.error)
    assert not (tmp_path / "ran").exists()
    assert stdout.by_thread == {}


def test_nonzero_exit_fails_with_code_and_last_lines(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    command = "for i in $(seq 1 30); do echo line$i; done; echo oops >&2; exit 3"
    run = Running(shell, make_ctx(tmp_path), {"command": command}).join()
    assert run.error is not None and not isinstance(run.error, TaskCancelled)
    message = str(run.error)
    assert "exited with code 3" in message
    assert message.endswith("line29\nline30\noops")
    assert "line11\n" not in message  # only the last 20 lines are quoted
    assert stdout.text(run.ident).count("\n") == 31


def test_killed_by_signal_is_a_failure(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    run = Running(shell, make_ctx(tmp_path), {"command": "echo before; kill -KILL $$"}).join()
    assert run.error is not None and not isinstance(run.error, TaskCancelled)
    assert "killed by signal SIGKILL" in str(run.error)
    assert "before" in str(run.error)


def test_exit_after_closing_output_is_still_awaited(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    command = "echo hi; exec >/dev/null 2>&1; sleep 0.3; exit 4"
    run = Running(shell, make_ctx(tmp_path), {"command": command}).join()
    assert run.error is not None and "exited with code 4" in str(run.error)
    assert stdout.text(run.ident) == "hi\n"


def test_large_output_does_not_deadlock_and_logs_keep_the_tail(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    # 20,000 lines of 100 bytes: far more than a pipe buffer holds.
    command = "for i in $(seq 1 20000); do printf '%099d\\n' $i; done"
    run = Running(shell, make_ctx(tmp_path), {"command": command}).join(60)
    assert run.error is None and run.output is not None
    streamed = stdout.text(run.ident)
    assert len(streamed) == 20000 * 100
    logs = run.output.output["logs"]
    assert run.output.output["logs_truncated"] is True
    assert 60 * 1024 <= len(logs) <= 64 * 1024
    assert logs.endswith(f"{20000:099d}\n")
    assert streamed.endswith(logs)


def test_background_process_holding_the_output_does_not_hang_the_task(
        shell: TaskType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    run = Running(shell, make_ctx(tmp_path), {"command": "sleep 300 & echo bg=$!; echo done"}).join()
    assert run.error is None
    bg = _pids(stdout.text(run.ident), "bg")["bg"]
    _wait_for(lambda: not _alive(bg))


def test_cancel_kills_the_whole_process_group(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    cancel = threading.Event()
    command = "echo leader=$$; sleep 300 & echo bg=$!; (echo fg=$BASHPID; exec sleep 300); wait"
    run = Running(shell, make_ctx(tmp_path, cancel), {"command": command})
    _wait_for(lambda: "fg=" in stdout.text(run.ident))
    pids = _pids(stdout.text(run.ident), "leader", "bg", "fg")
    assert all(_alive(pid) for pid in pids.values())

    cancel.set()
    run.join()
    assert isinstance(run.error, TaskCancelled)
    for name, pid in pids.items():
        assert not _alive(pid), f"{name} process {pid} survived the cancel"


def test_cancel_escalates_to_sigkill(shell: TaskType, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = capture_stdout(monkeypatch)
    monkeypatch.setattr(sys.modules[shell.run.__module__], "KILL_GRACE_SECONDS", 0.3)
    cancel = threading.Event()
    command = "trap '' TERM; echo leader=$$; while true; do sleep 0.05; done"
    run = Running(shell, make_ctx(tmp_path, cancel), {"command": command})
    _wait_for(lambda: "leader=" in stdout.text(run.ident))
    leader = _pids(stdout.text(run.ident), "leader")["leader"]

    cancel.set()
    run.join()
    assert isinstance(run.error, TaskCancelled)
    assert not _alive(leader)


def test_cancelled_before_start_runs_nothing(shell: TaskType, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    stdout = capture_stdout(monkeypatch)
    cancel = threading.Event()
    cancel.set()
    run = Running(shell, make_ctx(tmp_path, cancel), {"command": "touch ran"}).join()
    assert isinstance(run.error, TaskCancelled)
    assert not (tmp_path / "ran").exists()
    assert stdout.by_thread == {}


# --- settings and validation --------------------------------------------------

def test_settings_reject_unknown_fields(shell: TaskType) -> None:
    with pytest.raises(ValidationError):
        shell.settings_model.model_validate({"command": "true", "comand": "typo"})
    with pytest.raises(ValidationError):
        shell.settings_model.model_validate({"env": {}})


@pytest.mark.parametrize(("settings", "expected"), [
    ({"command": "echo ok"}, []),
    ({"command": "echo ok", "cwd": "scripts"}, []),
    ({"command": "echo ok", "cwd": "{{job.parameters.dir}}"}, []),
    ({"command": ""}, [("command", "empty")]),
    ({"command": "  \n "}, [("command", "empty")]),
    ({"command": "echo ok", "cwd": "missing"}, [("cwd", "missing")]),
    ({"command": "", "cwd": "/definitely/not/here"}, [("command", "empty"), ("cwd", "/definitely/not/here")]),
])
def test_validate(shell: TaskType, tmp_path: Path, settings: dict[str, Any],
                  expected: list[tuple[str, str]]) -> None:
    (tmp_path / "scripts").mkdir()
    assert shell.validate is not None
    issues = shell.validate(shell.settings_model.model_validate(settings), tmp_path)
    assert all(isinstance(issue, SpecIssue) for issue in issues)
    assert [issue.field for issue in issues] == [field for field, _ in expected]
    for issue, (_, fragment) in zip(issues, expected):
        assert fragment in issue.message


def test_validate_accepts_an_absolute_cwd(shell: TaskType, tmp_path: Path) -> None:
    assert shell.validate is not None
    settings = shell.settings_model.model_validate({"command": "true", "cwd": str(tmp_path)})
    assert shell.validate(settings, Path("/nonexistent-base")) == []
