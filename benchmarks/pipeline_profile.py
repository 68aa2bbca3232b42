"""Where one pipeline update spends its time: the pipeline of ``pipeline_vs_sdp.py`` on one driver.

A full update, then ``--updates`` times: land a file with 1% more rows and run the next
update, all on one SparkSession in this process (no JVM start in the figures). For every
update it prints the update's seconds, and per dataset: the flow's own seconds, how a view
was refreshed, the Spark jobs its thread started and the py4j calls it made (Python -> JVM
round trips; with their seconds).

    .venv/bin/python benchmarks/pipeline_profile.py [--rows 20000] [--updates 3] [--jobs] [--serial]
    .venv/bin/python benchmarks/pipeline_profile.py --updates 0 --keep      # then, in a fresh driver:
    .venv/bin/python benchmarks/pipeline_profile.py --updates 1 --resume ROOT

``--jobs`` also lists each update's Spark jobs (description and seconds), ``--plans`` with it
the SQL execution each job belongs to and its physical plan (which query or Delta step ran
it); ``--serial`` runs one flow at a time (each flow's own cost); ``--fine`` times the parts of
a view refresh's apply step; ``--conf KEY=VALUE`` tries a Spark setting; ``--warm-state`` builds the written tables' Delta state
after each update, as a warm driver does, and times it apart. py4j seconds include
the JVM work a call waits for.
"""
from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pipeline_vs_sdp import FILES, land, lakeloom_workspace  # benchmarks/ is on sys.path when run as a script

_local = threading.local()
_calls: collections.Counter[str] = collections.Counter()
_seconds: collections.Counter[str] = collections.Counter()


def _current() -> str:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else "(update)"


def _count_py4j() -> None:
    """Count py4j commands per dataset being built on the calling thread."""
    from py4j import clientserver, java_gateway

    for cls in (clientserver.ClientServerConnection, java_gateway.GatewayConnection):
        original = cls.send_command

        def send(self: Any, command: str, _original: Any = original) -> Any:
            t = time.perf_counter()
            try:
                return _original(self, command)
            finally:
                key = _current()
                _calls[key] += 1
                _seconds[key] += time.perf_counter() - t

        cls.send_command = send  # type: ignore[method-assign]


def _attribute_builds() -> None:
    """Jobs and py4j calls made while a dataset is built are that dataset's."""
    from lakeloom.pipelines import runner

    original = runner._Update.build

    def build(self: Any, ds: Any) -> None:
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(ds.name.lower())
        sc = self.graph.session.sparkContext
        try:
            sc.setLocalProperty("spark.jobGroup.id", f"profile:{ds.name.lower()}")
            original(self, ds)
        finally:
            stack.pop()
            sc.setLocalProperty("spark.jobGroup.id", f"profile:{stack[-1]}" if stack else None)  # type: ignore[arg-type]

    runner._Update.build = build  # type: ignore[method-assign]


_stages: dict[str, list[str]] = collections.defaultdict(list)


def _time_stages(fine: bool = False) -> None:
    """Seconds of the steps of a view refresh and of a streaming flow, per dataset."""
    from lakeloom.pipelines import flows, mv_refresh

    def timed(module: Any, name: str, label: str) -> None:
        original = getattr(module, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                _stages[_current()].append(f"{label} {time.perf_counter() - t:.2f}")

        setattr(module, name, wrapper)

    timed(mv_refresh, "plan_refresh", "plan")
    if fine:  # where a view refresh's apply step goes: its reads and queries, then the write
        from pyspark.sql import readwriter

        timed(mv_refresh.Refresher, "insert_terms", "terms")
        timed(mv_refresh.Refresher, "_overwrite_combined", "combine")
        timed(readwriter.DataFrameWriterV2, "overwrite", "write")
        timed(readwriter.DataFrameWriterV2, "append", "write")
    timed(mv_refresh.Refresher, "apply", "apply")
    timed(mv_refresh, "record", "record")
    timed(mv_refresh, "enable_change_feed", "cdf")
    timed(flows, "last_commit_metrics", "metrics")
    timed(flows, "create_table", "create")
    timed(flows, "await_query", "stream")


def _jobs(spark: Any, since: int) -> list[tuple[int, str, str, float]]:
    """(job id, group, description, seconds) of the jobs after id ``since``, from the driver's
    status store (the UI may be off)."""
    store = spark.sparkContext._jsc.sc().statusStore()
    jobs = store.jobsList(None)
    out = []
    for i in range(jobs.size()):
        j = jobs.apply(i)
        if j.jobId() <= since:
            continue
        start, end = j.submissionTime(), j.completionTime()
        secs = (end.get().getTime() - start.get().getTime()) / 1000 if start.isDefined() and end.isDefined() else 0.0
        group = j.jobGroup().get() if j.jobGroup().isDefined() else ""
        desc = j.description().get() if j.description().isDefined() else j.name()
        out.append((int(j.jobId()), str(group), " ".join(str(desc).split())[:100], secs))
    return sorted(out)


def _executions(spark: Any) -> dict[int, tuple[int, str, str]]:
    """Job id -> (SQL execution id, its description, the first lines of its physical plan)."""
    store = spark._jsparkSession.sharedState().statusStore()
    out: dict[int, tuple[int, str, str]] = {}
    execs = store.executionsList()
    for i in range(execs.size()):
        e = execs.apply(i)
        plan = str(e.physicalPlanDescription())
        tree = plan.split("== Physical Plan ==", 1)[-1].strip().splitlines()[:12]
        ids = e.jobs().keys().toSeq()
        for k in range(ids.size()):
            out[int(ids.apply(k))] = (int(e.executionId()), " ".join(str(e.description()).split())[:120],
                                      "\n".join(tree))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--updates", type=int, default=3)
    ap.add_argument("--jobs", action="store_true")
    ap.add_argument("--fine", action="store_true", help="also time the parts of a view refresh's apply step")
    ap.add_argument("--plans", action="store_true", help="with --jobs: each job's SQL execution and plan")
    ap.add_argument("--serial", action="store_true", help="one flow at a time (each flow's own cost)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="a Spark setting for the driver (the workspace's spark.conf), to try a change")
    ap.add_argument("--warm-state", action="store_true",
                    help="as a warm driver does: build the written tables' Delta state after each update "
                    "(lakeloom.runtime.delta_warmup), timed apart from the update")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--resume", metavar="ROOT", help="a folder kept by --keep: skip the full update (so the "
                    "+1%% updates run in a fresh driver, as a cold `lakeloom pipeline run` does)")
    args = ap.parse_args()

    from lakeloom.config import load_workspace
    from lakeloom.pipelines.runner import run_update
    from lakeloom.pipelines.spec import load_pipeline
    from lakeloom.plugin_manager import plugin_spark_conf
    from lakeloom.runtime.spark import SparkSessionProvider

    root = Path(args.resume) if args.resume else Path(tempfile.mkdtemp(prefix="lakeloom-pipeline-profile-"))
    landing = root / "landing"
    if not args.resume:
        for i in range(FILES):
            land(landing, i, args.rows // FILES)
    ws_dir = lakeloom_workspace(root, 0, landing)
    spec = ws_dir / "pipelines" / "bench" / "bench.pipeline.yml"
    if args.serial:
        import yaml

        doc = yaml.safe_load(spec.read_text())
        doc["configuration"] = {"lakeloom.pipelines.maxConcurrentFlows": "1"}
        spec.write_text(yaml.safe_dump(doc))
    if args.conf:
        import yaml

        conf_file = ws_dir / "conf" / "lakeloom.yml"
        settings = yaml.safe_load(conf_file.read_text())
        settings["spark"]["conf"] = dict(kv.split("=", 1) for kv in args.conf)
        conf_file.write_text(yaml.safe_dump(settings))
    ws = load_workspace(ws_dir, None)
    ws.ensure_state_dir()
    provider = SparkSessionProvider(ws, plugin_conf=plugin_spark_conf(ws), app_name="lakeloom-pipeline-profile")
    t0 = time.perf_counter()
    spark = provider.get()
    print(f"session in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
    if args.warm_state:
        from lakeloom.runtime import delta_warmup

        delta_warmup.keep_warm()
    _count_py4j()
    _attribute_builds()
    _time_stages(args.fine)
    last_job = -1
    try:
        first = 1 if args.resume else 0
        landed = len(list(landing.glob("*.json")))
        for u in range(first, args.updates + 1):
            if u:
                land(landing, landed + u, args.rows // 100)
            loaded = load_pipeline(str(spec), base_dir=ws_dir, workspace=ws)
            _calls.clear()
            _stages.clear()
            _seconds.clear()
            t = time.perf_counter()
            result = run_update(spark, loaded, ws)
            wall = time.perf_counter() - t
            calls, seconds = collections.Counter(_calls), collections.Counter(_seconds)
            jobs = _jobs(spark, last_job)
            last_job = max([j[0] for j in jobs], default=last_job)
            per_group = collections.Counter(j[1].removeprefix("profile:") for j in jobs)
            print(f"\n{'full' if u == 0 else f'+1% #{u}'} update: {wall:.1f} s, {len(jobs)} Spark jobs, "
                  f"{sum(calls.values())} py4j calls ({sum(seconds.values()):.1f} s); "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            techniques = {}
            for e in result.events:
                if e["event_type"] == "planning_information":
                    techniques[e["dataset"].lower()] = e["message"].split(" as ", 1)[-1].split(" ")[0].rstrip(".")
            for key, d in result.datasets.items():
                own = sum(f.seconds for f in d.flows)
                print(f"  {key:<20} {own:6.2f} s  {techniques.get(key, d.kind):<22} jobs {per_group.get(key, 0):3d}  "
                      f"py4j {calls.get(key, 0):5d} ({seconds.get(key, 0.0):.2f} s)  {', '.join(_stages.get(key, []))}",
                      flush=True)
            print(f"  {'(outside datasets)':<20} py4j {calls.get('(update)', 0)} "
                  f"({seconds.get('(update)', 0.0):.2f} s), jobs {per_group.get('', 0)}", flush=True)
            if args.jobs:
                executions = _executions(spark) if args.plans else {}
                for j in jobs:
                    print(f"    job {j[0]:4d} {j[3]:6.2f} s  [{j[1].removeprefix('profile:')}] {j[2]}")
                    if args.plans and j[0] in executions:
                        ex = executions[j[0]]
                        print(f"      sql {ex[0]}: {ex[1]}\n        " + ex[2].replace("\n", "\n        "))
            if args.warm_state:
                tw = time.perf_counter()
                delta_warmup.wait_idle(300)
                jobs = _jobs(spark, last_job)
                last_job = max([j[0] for j in jobs], default=last_job)
                print(f"  then the tables' Delta state: {time.perf_counter() - tw:.2f} s after the update, "
                      f"{len(jobs)} Spark jobs", flush=True)
    finally:
        provider.stop()
        if not args.keep and not args.resume:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
