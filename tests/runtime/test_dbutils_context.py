"""The Databricks notebook context object: ``dbutils.notebook.getContext()`` and
``dbutils.notebook.entry_point.getDbutils().notebook().getContext()``, outside a task,
in a python_task and a wheel task (no JVM), and in a notebook (with ``%run``) and a
spark_python_task run by the engine."""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeloom.config import Workspace, load_workspace
from lakeloom.engine.api import Engine
from lakeloom.plugin_api import TaskContext, TaskValues
from lakeloom.plugin_api.context import activate
from lakeloom.plugin_manager import build_plugin_manager
from lakeloom.runtime.dbutils import dbutils
from lakeloom.runtime.dbutils.notebook_context import (
    CLUSTER_ID, NOTEBOOK_STACK_KEY, NoSuchElementException, NotebookContext, Option, RunId, ScalaMap)
from lakeloom.store.records import TaskRunRecord

# Reads the context both ways; used as a python_task function and a wheel entry point.
PROBE = '''
import json


def probe():
    from databricks.sdk.runtime import dbutils

    c = dbutils.notebook.entry_point.getDbutils().notebook().getContext()
    d = dbutils.notebook.getContext()
    return {"job_id": c.jobId().get(), "job_run_id": c.jobRunId().get(), "run_id": c.currentRunId().get().id(),
            "run_id_str": str(c.currentRunId().get()), "task_key": c.tags().apply("taskKey"),
            "user": c.userName().getOrElse(None), "api_url": c.apiUrl().getOrElse(None),
            "token_empty": c.apiToken().isEmpty(), "notebook_path": c.notebookPath().getOrElse(None),
            "tags": json.loads(d.toJson())["tags"], "safe": json.loads(d.safeToJson())["attributes"]}


main = probe
'''

OUTER = '''# Databricks notebook source
# MAGIC %run ./lib/ctx_inner

# COMMAND ----------

import json

c = dbutils.notebook.entry_point.getDbutils().notebook().getContext()
doc = json.loads(c.toJson())
dbutils.notebook.exit(json.dumps({
    "path": c.notebookPath().get(), "direct_path": dbutils.notebook.getContext().notebookPath().get(),
    "inner_saw": inner_saw, "run_id": c.currentRunId().get().id(), "job_id": c.jobId().get(),
    "job_run_id": c.multitaskParentRunId().get(), "task_key": c.tags().get("taskKey").get(),
    "notebook_id": c.notebookId().get(), "tags": doc["tags"], "extra": doc["extraContext"],
    "current": doc["currentRunId"]}))
'''

INNER = '''# Databricks notebook source
inner_saw = dbutils.notebook.getContext().notebookPath().get()
'''

SCRIPT = '''import json

from databricks.sdk.runtime import dbutils

c = dbutils.notebook.entry_point.getDbutils().notebook().getContext()
dbutils.jobs.taskValues.set("ctx", {"path_empty": c.notebookPath().isEmpty(), "tags": json.loads(c.toJson())["tags"],
                                    "run_id": c.currentRunId().get().id()})
'''


def _ctx(ws: Workspace, notebook_stack: list[str] | None = None) -> TaskContext:
    ctx = TaskContext(
        run_id=7, job_id=3, job_name="nightly", task_key="load", task_run_id=71, attempt_number=0,
        execution_count=1, parameters={}, job_parameters={}, task_values=TaskValues(None, "load"),  # type: ignore[arg-type]
        logger=logging.getLogger("t"), workspace=ws, base_dir=ws.root, cancel_event=threading.Event(),
        spark_provider=lambda: None, resolver=lambda s: s, services=None)  # type: ignore[arg-type]
    if notebook_stack is not None:
        ctx.stash[NOTEBOOK_STACK_KEY] = notebook_stack
    return ctx


def _in_thread(ctx: TaskContext, fn: Any) -> Any:
    """``fn()`` on a fresh thread with ``ctx`` active, as the engine runs a task."""
    box: dict[str, Any] = {}

    def target() -> None:
        with activate(ctx):
            box["value"] = fn()

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    return box["value"]


def _rows(engine: Engine, run_id: int) -> dict[str, TaskRunRecord]:
    rows = {r.task_key: r for r in engine.store.task_runs(run_id) if r.iteration is None}
    assert {k: r.result_state for k, r in rows.items()} == dict.fromkeys(rows, "SUCCESS"), \
        {k: r.state_message for k, r in rows.items()}
    return rows


# --- the Scala-like values -------------------------------------------------------------------


def test_option_some_and_none() -> None:
    some, none = Option.of("x"), Option.of(None)
    assert some.get() == "x" and some.isDefined() and not some.isEmpty() and some.getOrElse("d") == "x"
    assert str(some) == "Some(x)" and list(some) == ["x"] and bool(some)
    assert none.isEmpty() and not none.isDefined() and none.getOrElse("d") == "d" and none.orNull() is None
    assert str(none) == "None" and list(none) == [] and not bool(none)
    with pytest.raises(NoSuchElementException, match="None.get"):
        none.get()
    assert Option.of(0).isDefined() and Option.of(0).get() == 0  # only None is empty
    assert str(Option.of(RunId(42))) == "Some(42)" and Option.of(RunId(42)).get().id() == 42


def test_scala_map_get_apply_contains_iteration() -> None:
    tags = ScalaMap({"jobId": "3", "taskKey": "load"})
    assert tags.get("jobId").get() == "3" and tags.get("missing").isEmpty()
    assert tags.apply("taskKey") == "load" and tags.contains("jobId") and not tags.contains("x")
    with pytest.raises(NoSuchElementException, match="key not found: x"):
        tags.apply("x")
    assert list(tags) == ["jobId", "taskKey"] and dict(tags) == {"jobId": "3", "taskKey": "load"}
    assert str(tags) == "Map(jobId -> 3, taskKey -> load)" and tags.size() == 2


def test_outside_a_task_every_option_is_empty() -> None:
    for c in (dbutils.notebook.getContext(), dbutils.notebook.entry_point.getDbutils().notebook().getContext()):
        assert isinstance(c, NotebookContext)
        for option in (c.notebookPath(), c.currentRunId(), c.jobId(), c.jobRunId(), c.userName(), c.apiUrl(),
                       c.apiToken(), c.browserHostName(), c.clusterId(), c.notebookId()):
            assert option.isEmpty(), option
        assert c.tags().isEmpty() and c.tags().get("jobId").isEmpty()
        with pytest.raises(NoSuchElementException):
            c.currentRunId().get()
        assert json.loads(c.toJson()) == {"rootRunId": None, "currentRunId": None, "jobGroup": None,
                                          "tags": {}, "extraContext": {}}
        assert json.loads(c.safeToJson()) == {"attributes": {}}


def test_percent_run_stack_reports_the_outer_notebook_and_no_store_means_local_user(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path)
    outer, inner = tmp_path / "nb" / "outer.py", tmp_path / "nb" / "lib" / "inner.ipynb"
    ctx = _ctx(ws, notebook_stack=[str(outer), str(inner)])
    c = _in_thread(ctx, dbutils.notebook.getContext)
    assert c.notebookPath().get() == (tmp_path / "nb" / "outer").as_posix()
    assert c.currentRunId().get().id() == 71 and c.jobId().get() == 3 and c.jobRunId().get() == 7
    assert c.userName().isDefined() and c.tags().apply("user") == c.userName().get()  # the OS user
    assert c.apiUrl().isEmpty() and c.apiToken().isEmpty()  # no server configured, no token invented
    tags = json.loads(c.toJson())["tags"]
    assert tags["notebookId"] == str(c.notebookId().get()) and tags["clusterId"] == CLUSTER_ID
    assert tags["orgId"] == str(ws.workspace_id) and tags["jobName"] == "nightly"
    script = _in_thread(_ctx(ws), dbutils.notebook.getContext)
    assert script.notebookPath().isEmpty() and not script.tags().contains("notebookId")
    assert script.tags().apply("runId") == "71"


# --- through the engine ----------------------------------------------------------------------


def test_python_and_wheel_tasks_see_the_engine_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No JVM: python_task and python_wheel_task need no Spark session."""
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "ll_ctx_probe.py").write_text(PROBE)
    (tmp_path / "py" / "ll_ctx_wheel.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path / "py"))
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text(yaml.safe_dump({"server": {"port": 8765}}))
    job = tmp_path / "ctx.job.yml"
    job.write_text(yaml.safe_dump({
        "name": "ctx-probe", "run_as": {"user_name": "alice@example.com"},
        "tasks": [{"task_key": "py", "python_task": {"function": "ll_ctx_probe:probe"}},
                  {"task_key": "whl", "python_wheel_task": {"package_name": "ll_ctx_wheel", "entry_point": "main"}}],
    }))
    ws = load_workspace(tmp_path)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    run = engine.submit(str(job))
    rows = _rows(engine, run["run_id"])
    assert engine.spark_provider is None  # really no JVM
    for key in ("py", "whl"):
        seen = rows[key].output["result"]
        task_run_id = rows[key].task_run_id
        assert seen["job_id"] == run["job_id"] and seen["job_run_id"] == run["run_id"]
        assert seen["run_id"] == task_run_id and seen["run_id_str"] == str(task_run_id)
        assert seen["task_key"] == key and seen["user"] == "alice@example.com"
        assert seen["api_url"] == "http://127.0.0.1:8765" and seen["token_empty"] and seen["notebook_path"] is None
        assert seen["tags"] == {
            "jobId": str(run["job_id"]), "jobName": "ctx-probe", "runId": str(task_run_id),
            "multitaskParentRunId": str(run["run_id"]), "taskKey": key, "clusterId": CLUSTER_ID,
            "orgId": str(ws.workspace_id), "user": "alice@example.com"}
        assert seen["safe"] == {
            "job_id": str(run["job_id"]), "job_name": "ctx-probe", "current_run_id": str(task_run_id),
            "multitask_parent_run_id": str(run["run_id"]), "task_key": key, "user": "alice@example.com",
            "cluster_id": CLUSTER_ID, "api_url": "http://127.0.0.1:8765"}


@pytest.mark.spark
def test_notebook_and_script_tasks_see_the_engine_run(spark, tmp_path: Path) -> None:  # noqa: ANN001
    """The notebook plugin and spark_python_task start the run's Spark session, hence ``spark``."""
    (tmp_path / "notebooks" / "lib").mkdir(parents=True)
    (tmp_path / "notebooks" / "ctx_outer.py").write_text(OUTER)
    (tmp_path / "notebooks" / "lib" / "ctx_inner.py").write_text(INNER)
    (tmp_path / "ctx_script.py").write_text(SCRIPT)
    job = tmp_path / "nb.job.yml"
    job.write_text(yaml.safe_dump({
        "name": "ctx-notebook",
        "tasks": [{"task_key": "nb", "notebook_task": {"notebook_path": "notebooks/ctx_outer"}},
                  {"task_key": "script", "spark_python_task": {"python_file": "ctx_script.py"}}],
    }))
    ws = load_workspace(tmp_path)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    run = engine.submit(str(job))
    rows = _rows(engine, run["run_id"])

    seen = json.loads(rows["nb"].output["notebook_output"]["result"])
    path = (tmp_path / "notebooks" / "ctx_outer").resolve().as_posix()
    task_run_id = rows["nb"].task_run_id
    assert seen["path"] == seen["direct_path"] == path
    assert seen["inner_saw"] == path  # a %run notebook reports the notebook that ran it
    assert seen["job_id"] == run["job_id"] and seen["job_run_id"] == run["run_id"]
    assert seen["run_id"] == task_run_id and seen["current"] == {"id": task_run_id} and seen["task_key"] == "nb"
    assert seen["extra"] == {"notebook_path": path}
    tags = seen["tags"]
    assert tags["jobId"] == str(run["job_id"]) and tags["runId"] == str(task_run_id)
    assert tags["multitaskParentRunId"] == str(run["run_id"]) and tags["taskKey"] == "nb"
    assert tags["jobName"] == "ctx-notebook" and tags["notebookId"] == str(seen["notebook_id"])
    assert tags["clusterId"] == CLUSTER_ID and tags["user"]

    script = engine.store.task_values(run["run_id"])["script"]["ctx"]
    assert script["path_empty"] is True and script["run_id"] == rows["script"].task_run_id
    assert script["tags"]["taskKey"] == "script" and script["tags"]["jobId"] == str(run["job_id"])
    assert "notebookId" not in script["tags"]
