"""table_update triggers on real Delta commits (written with the shared Spark session); the
watcher reads versions from `_delta_log` without a JVM."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lakeloom.config import Workspace
from lakeloom.engine.api import Engine
from lakeloom.engine.executor import RunExecutor
from lakeloom.plugin_api import TriggerEnv
from lakeloom.plugins.triggers.table_update import delta_version, table_location
from lakeloom.scheduler.clock import ManualClock
from lakeloom.scheduler.loop import Scheduler
from serving import wait_until


def test_table_update_fires_on_new_delta_versions(spark: Any, spark_workspace: Workspace, tmp_path: Path) -> None:
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.trig")
    for t in ("orders", "customers"):
        spark.sql(f"DROP TABLE IF EXISTS main.trig.{t}")
        spark.sql(f"CREATE TABLE main.trig.{t} (id INT) USING delta")
    # Same catalog as the Spark session, own run store.
    ws = Workspace(root=spark_workspace.root, settings={
        **spark_workspace.settings, "store": {"url": f"sqlite:///{tmp_path / 'store.db'}"}})
    engine = Engine.open(ws)
    env = TriggerEnv(ws, engine.store)
    loc = table_location(env, "main.trig.orders")
    assert loc is not None and delta_version(loc)[0] == 0
    executor = RunExecutor(engine, per_run_spark=False)
    clock = ManualClock(1_700_000_000_000)
    sched = Scheduler(executor, clock=clock, poll_seconds=5, refresh_seconds=0)
    task = {"task_key": "t", "python_task": {"function": "sv_tasks:ok"}}
    any_job = engine.store.create_job("any", {"name": "any", "tasks": [task], "trigger": {"table_update": {
        "table_names": ["main.trig.orders", "main.trig.customers"], "condition": "ANY_UPDATED"}}}, creator="t").job_id
    all_job = engine.store.create_job("all", {"name": "all", "tasks": [task], "trigger": {"table_update": {
        "table_names": ["main.trig.orders", "main.trig.customers"], "condition": "ALL_UPDATED"}}}, creator="t").job_id

    def tick() -> None:
        clock.advance(10)
        sched.tick()
        wait_until(lambda: not executor.active_run_ids())

    def runs(job_id: int) -> list[dict[str, Any]]:
        return sorted(engine.store.list_runs(job_id=job_id), key=lambda r: r.run_id)

    tick()  # first sight
    spark.sql("INSERT INTO main.trig.orders VALUES (1)")
    tick()
    assert len(runs(any_job)) == 1 and runs(all_job) == []
    info = runs(any_job)[0].trigger_info["table_update"]
    assert info["updated_tables"] == ["main.trig.orders"]
    assert info["main.trig.orders"]["version"] == 1 and info["main.trig.orders"]["commit_timestamp"] > 0
    tick()
    assert len(runs(any_job)) == 1  # no new commit, no new run
    spark.sql("INSERT INTO main.trig.customers VALUES (1)")
    tick()
    assert len(runs(any_job)) == 2 and len(runs(all_job)) == 1
    assert runs(all_job)[0].trigger_info["table_update"]["updated_tables"] == [
        "main.trig.orders", "main.trig.customers"]
    # A new scheduler (a restart) does not fire again for the same versions.
    sched = Scheduler(executor, clock=clock, poll_seconds=5, refresh_seconds=0)
    tick()
    assert len(runs(any_job)) == 2 and len(runs(all_job)) == 1
    engine.store.close()
