"""A job run by `lakeloom run` (real subprocess, real JVM): lineage linked to its job, run, task
and principal, exported as OpenLineage events to a real HTTP receiver on 127.0.0.1, and the
system.lakeflow tables read from SQL inside a task of the same run."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lakeloom.catalog.audit import read_audit_events
from lakeloom.config import load_workspace

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]  # a whole `lakeloom run` in a fresh JVM

JOB = """
name: lineage_e2e
tasks:
  - task_key: make
    spark_python_task: {python_file: make.py}
  - task_key: derive
    depends_on: [{task_key: make}]
    spark_python_task: {python_file: derive.py}
  - task_key: report
    depends_on: [{task_key: derive}]
    spark_python_task: {python_file: report.py}
"""

PRELUDE = "from pyspark.sql import SparkSession\nspark = SparkSession.getActiveSession()\n"

MAKE = PRELUDE + """
spark.sql("CREATE SCHEMA IF NOT EXISTS main.e2e")
spark.sql("CREATE OR REPLACE TABLE main.e2e.src AS SELECT id, id * 10 AS amount FROM range(5)")
"""

DERIVE = PRELUDE + """
spark.sql("CREATE OR REPLACE TABLE main.e2e.dst AS SELECT id, amount + 1 AS total FROM main.e2e.src")
"""

REPORT = PRELUDE + """
import json
spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(60000)
tasks = spark.sql("SELECT task_key, result_state FROM system.lakeflow.job_task_run_timeline "
                  "WHERE job_run_id = (SELECT max(run_id) FROM system.lakeflow.job_run_timeline)").collect()
jobs = spark.sql("SELECT name, job_id FROM system.lakeflow.jobs").collect()
deps = spark.sql("SELECT task_key, depends_on_keys FROM system.lakeflow.job_tasks").collect()
lineage = spark.sql("SELECT source_table_full_name, entity_type, entity_id, entity_run_id, created_by, "
                    "entity_metadata.job_info.task_key AS task_key FROM system.access.table_lineage "
                    "WHERE target_table_full_name = 'main.e2e.dst'").collect()
open("report.json", "w").write(json.dumps({
    "tasks": sorted([list(r) for r in tasks]), "jobs": [list(r) for r in jobs],
    "deps": sorted([[r[0], list(r[1])] for r in deps]), "lineage": [list(r) for r in lineage]}))
"""


class _Receiver(BaseHTTPRequestHandler):
    events: list[tuple[str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.events.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Receiver.events
    server.shutdown()
    server.server_close()


def test_job_lineage_openlineage_export_and_lakeflow_tables(tmp_path: Path, receiver) -> None:
    url, events = receiver
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text(textwrap.dedent(f"""
        spark: {{master: "local[2]"}}
        governance:
          openlineage: {{url: "{url}", namespace: e2e, file: ol-events.jsonl}}
    """))
    (tmp_path / "job.yml").write_text(JOB)
    for name, code in {"make.py": MAKE, "derive.py": DERIVE, "report.py": REPORT}.items():
        (tmp_path / name).write_text(code)
    proc = subprocess.run([LAKELOOM, "--workspace", str(tmp_path), "run", "job.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())

    assert report["tasks"] == [["derive", "SUCCEEDED"], ["make", "SUCCEEDED"], ["report", None]]
    [(job_name, job_id)] = report["jobs"]
    assert job_name == "lineage_e2e"
    assert report["deps"] == [["derive", ["make"]], ["make", []], ["report", ["derive"]]]
    [(source, entity_type, entity_id, run_id, created_by, task_key)] = report["lineage"]
    assert (source, entity_type, entity_id, task_key) == ("main.e2e.src", "JOB", job_id, "derive")
    assert run_id is not None and created_by

    # OpenLineage: one COMPLETE event per write, over HTTP and to the file, with column lineage.
    posted = [e for path, e in events if path == "/api/v1/lineage"]
    by_output = {e["outputs"][0]["name"]: e for e in posted}
    assert set(by_output) >= {"main.e2e.src", "main.e2e.dst"}
    dst = by_output["main.e2e.dst"]
    assert dst["eventType"] == "COMPLETE" and dst["job"] == {"namespace": "e2e", "name": "lineage_e2e.derive"}
    assert [i["name"] for i in dst["inputs"]] == ["main.e2e.src"]
    fields = dst["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert {k: [f["field"] for f in v["inputFields"]] for k, v in fields.items()} == {"id": ["id"], "total": ["amount"]}
    assert dst["run"]["facets"]["parent"]["job"]["name"] == "lineage_e2e"
    filed = [json.loads(line) for line in (tmp_path / "ol-events.jsonl").read_text().splitlines()]
    assert {e["outputs"][0]["name"] for e in filed} == set(by_output)

    [run_now] = [e for e in read_audit_events(load_workspace(tmp_path)) if e["action_name"] == "runNow"]
    assert run_now["user_agent"] == "lakeloom-cli" and run_now["response"]["status_code"] == 200
    assert json.loads(run_now["response"]["result"])["run_id"] == int(run_id)
