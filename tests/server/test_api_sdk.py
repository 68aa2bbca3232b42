"""The Jobs API driven by the real databricks-sdk WorkspaceClient against a live server."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound, PermissionDenied, Unauthenticated
from databricks.sdk.service import jobs

from serving import LiveServer, make_workspace, wait_until

SCRIPTS = {
    # Each run has its own Spark session: a temp view from an earlier run is not visible.
    "ok.py": "import lakeloom\n"
             "s = lakeloom.context().spark\n"
             "assert not s.catalog.tableExists('per_run_view'), 'temp view leaked between runs'\n"
             "s.sql('create temp view per_run_view as select 1 as x')\n"
             "print('rows', s.sql('select * from per_run_view').count())\n",
    "fail_unless.py": "import os, sys\nsys.exit(0 if os.path.exists(sys.argv[1]) else 3)\n",
    "wait.py": "import lakeloom\nlakeloom.context().cancel_event.wait(60)\n",
}


@pytest.fixture
def server(tmp_path: Path, spark: Any) -> Iterator[LiveServer]:
    root = make_workspace(tmp_path / "ws")
    for name, code in SCRIPTS.items():
        (root / name).write_text(code)
    srv = LiveServer(root, scheduler=False)
    yield srv
    srv.close()


def client(srv: LiveServer, token: str) -> WorkspaceClient:
    return WorkspaceClient(host=srv.url, token=token, auth_type="pat")


def py(key: str, file: str, *params: str, deps: tuple[str, ...] = ()) -> jobs.Task:
    return jobs.Task(task_key=key, spark_python_task=jobs.SparkPythonTask(python_file=file, parameters=list(params)),
                     depends_on=[jobs.TaskDependency(task_key=d) for d in deps] or None)


def test_sdk_lifecycle(server: LiveServer, tmp_path: Path) -> None:
    w = client(server, server.token("alice"))
    flag = tmp_path / "flag"
    created = w.jobs.create(name="sdk-job", tasks=[py("a", "ok.py"), py("b", "fail_unless.py", str(flag), deps=("a",))],
                            parameters=[jobs.JobParameterDefinition(name="day", default="mon")])
    job = w.jobs.get(created.job_id)
    assert job.settings.name == "sdk-job" and job.creator_user_name == "alice"
    assert [j.job_id for j in w.jobs.list()] == [created.job_id]

    run = w.jobs.run_now(created.job_id, job_parameters={"day": "tue"}).result()
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert {t.task_key: t.state.result_state.value for t in run.tasks} == {"a": "SUCCESS", "b": "FAILED"}
    assert run.job_parameters[0].value == "tue"
    raw = w.api_client.do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run.run_id})
    assert raw["run_as_user_name"] == "alice" and raw["run_page_url"].endswith(f"/runs/{run.run_id}")
    got = w.jobs.get_run(run.run_id)
    assert got.run_id == run.run_id and got.status.termination_details.code == jobs.TerminationCodeCode.RUN_EXECUTION_ERROR
    b = next(t for t in got.tasks if t.task_key == "b")
    out = w.jobs.get_run_output(b.run_id)
    assert "exited with status 3" in out.error

    flag.touch()
    repaired = w.jobs.repair_run(run.run_id, rerun_tasks=["b"]).result()
    assert repaired.state.result_state == jobs.RunResultState.SUCCESS
    assert [h.type.value for h in repaired.repair_history] == ["ORIGINAL", "REPAIR"]
    with pytest.raises(InvalidParameterValue, match="latest_repair_id"):
        w.jobs.repair_run(run.run_id, rerun_tasks=["b"])

    second = w.jobs.run_now(created.job_id).result()  # a fresh Spark session: ok.py's view check passes
    assert second.state.result_state == jobs.RunResultState.SUCCESS
    listed = list(w.jobs.list_runs(job_id=created.job_id))
    assert [r.run_id for r in listed] == [second.run_id, run.run_id]

    w.jobs.delete(created.job_id)
    with pytest.raises(NotFound):
        w.jobs.get(created.job_id)


def test_sdk_cancel_queue_and_paging(server: LiveServer) -> None:
    w = client(server, server.token("ops", admin=True))
    job_id = w.jobs.create(name="waiter", tasks=[py("w", "wait.py")], max_concurrent_runs=1,
                           queue=jobs.QueueSettings(enabled=True)).job_id
    first = w.jobs.run_now(job_id)
    queued = w.jobs.run_now(job_id)
    wait_until(lambda: w.jobs.get_run(first.run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING)
    assert w.jobs.get_run(queued.run_id).state.life_cycle_state == jobs.RunLifeCycleState.QUEUED
    cancelled = w.jobs.cancel_run(first.run_id).result()
    assert cancelled.state.result_state == jobs.RunResultState.CANCELED
    # The queued run starts once the slot frees; cancel it too.
    wait_until(lambda: w.jobs.get_run(queued.run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING)
    w.jobs.cancel_all_runs(job_id=job_id)
    done = w.jobs.wait_get_run_job_terminated_or_skipped(queued.run_id)
    assert done.state.result_state == jobs.RunResultState.CANCELED

    # Without a queue, a run over the limit is skipped.
    w.jobs.update(job_id, new_settings=jobs.JobSettings(queue=jobs.QueueSettings(enabled=False)))
    running = w.jobs.run_now(job_id)
    wait_until(lambda: w.jobs.get_run(running.run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING)
    skipped = w.jobs.get_run(w.jobs.run_now(job_id).run_id)
    assert skipped.state.result_state == jobs.RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED
    assert skipped.status.termination_details.code == jobs.TerminationCodeCode.MAX_CONCURRENT_RUNS_EXCEEDED
    w.jobs.cancel_run(running.run_id).result()

    # runs/list pages through next_page_token (25 per page at most).
    all_runs = list(w.jobs.list_runs(job_id=job_id, limit=2))
    assert len(all_runs) == 4 and len({r.run_id for r in all_runs}) == 4
    assert [r.run_id for r in all_runs] == sorted((r.run_id for r in all_runs), reverse=True)
    w.jobs.delete_run(skipped.run_id)
    assert len(list(w.jobs.list_runs(job_id=job_id))) == 3


def test_sdk_auth_and_permissions(server: LiveServer) -> None:
    with pytest.raises(Unauthenticated):
        list(client(server, "not-a-token").jobs.list())
    owner = client(server, server.token("owner"))
    viewer = client(server, server.token("viewer"))
    stranger = client(server, server.token("stranger"))
    job_id = owner.jobs.create(name="private", tasks=[py("a", "ok.py")], access_control_list=[
        jobs.JobAccessControlRequest(user_name="viewer", permission_level=jobs.JobPermissionLevel.CAN_VIEW)]).job_id
    assert viewer.jobs.get(job_id).settings.name == "private"
    with pytest.raises(PermissionDenied):
        viewer.jobs.run_now(job_id)
    with pytest.raises(PermissionDenied):
        stranger.jobs.get(job_id)
    assert list(stranger.jobs.list()) == []
    with pytest.raises(PermissionDenied, match="run_as"):
        owner.jobs.create(name="sneaky", tasks=[py("a", "ok.py")], run_as=jobs.JobRunAs(user_name="admin"))
    with pytest.raises(InvalidParameterValue, match="quartz|fields|cron"):
        owner.jobs.create(name="bad", tasks=[py("a", "ok.py")],
                          schedule=jobs.CronSchedule(quartz_cron_expression="not cron", timezone_id="UTC"))
    with pytest.raises(NotFound):
        owner.jobs.get_run(987654)
    import json
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/openapi.json") as resp:
        paths = json.loads(resp.read())["paths"]
    assert {"/api/2.2/jobs/run-now", "/api/2.2/jobs/runs/list", "/api/2.2/jobs/runs/repair"} <= set(paths)
    try:
        urllib.request.urlopen(f"{server.url}/api/2.2/jobs/list")
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as e:
        assert e.code == 401 and json.loads(e.read())["error_code"] == "UNAUTHENTICATED"
