"""A real workspace + Engine for engine tests (no mocks: real store, plugins, threads)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from lakeloom.config import load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_manager import build_plugin_manager

#: The folder holding ll_tasks/harness, for subprocesses that must import them.
HERE_FOR_SUBPROCESS = str(Path(__file__).resolve().parent)


def task(key: str, fn: str = "ok", *, deps: Iterable[Any] = (), **fields: Any) -> dict[str, Any]:
    """A python_task calling ``ll_tasks:<fn>``; ``params=`` sets its parameters."""
    params = fields.pop("params", None)
    body: dict[str, Any] = {"task_key": key}
    dep_list = [d if isinstance(d, dict) else {"task_key": d} for d in deps]
    if dep_list:
        body["depends_on"] = dep_list
    body.update(fields)
    if not any(k.endswith("_task") for k in body):
        block: dict[str, Any] = {"function": f"ll_tasks:{fn}"}
        if params:
            block["parameters"] = params
        body["python_task"] = block
    return body


def cond(key: str, op: str, left: Any, right: Any, **fields: Any) -> dict[str, Any]:
    return {"task_key": key, "condition_task": {"op": op, "left": str(left), "right": str(right)}, **fields}


class Harness:
    def __init__(self, root: Path, conf: dict[str, Any] | None = None, extra_plugins: Iterable[Any] = ()) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        if conf:
            (root / "conf").mkdir(parents=True, exist_ok=True)
            (root / "conf" / "lakeloom.yml").write_text(yaml.safe_dump(conf))
        self.workspace = load_workspace(root)
        pm = build_plugin_manager(self.workspace.disabled_plugins, extra_plugins=extra_plugins)
        self.engine = Engine.open(self.workspace, pm)
        self.store = self.engine.store
        self._n = 0

    def job(self, tasks: list[dict[str, Any]], *, name: str = "test-job", filename: str | None = None,
            **job_fields: Any) -> Path:
        self._n += 1
        path = self.root / (filename or f"job{self._n}.yml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"name": name, "tasks": tasks, **job_fields}, sort_keys=False))
        return path

    @staticmethod
    def write_job_file(path: Path, tasks: list[dict[str, Any]], *, name: str = "test-job", **job_fields: Any) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"name": name, "tasks": tasks, **job_fields}, sort_keys=False))
        return path

    def run(self, tasks: list[dict[str, Any]], *, params: dict[str, str] | None = None,
            only: list[str] | None = None, **job_fields: Any) -> dict[str, Any]:
        run = self.engine.submit(str(self.job(tasks, **job_fields)), params=params, only=only)
        assert_settled(self.store, run["run_id"])
        return run

    def task_rows(self, run_id: int, key: str | None = None, *, nested: bool = False) -> list[dict[str, Any]]:
        rows = self.store.task_runs(run_id)
        return [r for r in rows if (key is None or r.task_key == key) and ((r.iteration is not None) == nested)]

    def reconfigure(self, conf: dict[str, Any]) -> None:
        (self.root / "conf").mkdir(parents=True, exist_ok=True)
        (self.root / "conf" / "lakeloom.yml").write_text(yaml.safe_dump(conf))
        self.engine.workspace = self.workspace = load_workspace(self.root)

    def close(self) -> None:
        self.store.close()


def results(run: dict[str, Any]) -> dict[str, str]:
    """Each top-level task's latest result state."""
    out: dict[str, str] = {}
    for t in run["tasks"]:
        if "iteration" not in t:
            out[t["task_key"]] = t["state"].get("result_state")
    return out


def attempts(run: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [t for t in run["tasks"] if t["task_key"] == key and "iteration" not in t]


def wait_until(pred: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def assert_settled(store: Any, run_id: int) -> None:
    """A finished run leaves no attempt unfinished in the store."""
    open_rows = [(r.task_key, r.attempt_number) for r in store.task_runs(run_id) if r.end_time is None]
    assert not open_rows, f"attempts left running after the run ended: {open_rows}"
