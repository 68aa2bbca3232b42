"""Pipeline options on real Spark + Delta: sinks, refresh selections (runner, pipeline_task,
CLI), dataset options landing in Delta, temporary views, several append flows into a
created streaming table, and the event log from SQL and ``lakeloom pipeline runs``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline_helpers import land_json, write_pipeline
from lakeloom.cli.main import cli
from lakeloom.config import Workspace, load_workspace
from lakeloom.engine.api import Engine
from lakeloom.pipelines.runner import UpdateOptions, run_update
from lakeloom.plugin_manager import build_plugin_manager

pytestmark = pytest.mark.spark


def _rows(start: int, n: int) -> list[dict]:
    return [{"id": start + i, "amount": 1.0 + i} for i in range(n)]


def _version(spark, table: str) -> int:  # noqa: ANN001
    return spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").first().version


SINK = {
    "src/sink.py": """
        from pyspark import pipelines as dp

        dp.create_sink("export", "delta", {"path": spark.conf.get("test.sink")})

        @dp.append_flow(target="export")
        def to_export():
            return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
                    .option("cloudFiles.schemaHints", "id BIGINT, amount DOUBLE")
                    .load(spark.conf.get("test.landing")))
    """,
}


def test_sink_receives_a_stream_incrementally(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    landing, sink = tmp_path / "landing", tmp_path / "external" / "export"
    land_json(landing, "a.json", _rows(0, 3))
    loaded = write_pipeline(tmp_path / "p", "sinks", SINK,
                            configuration={"test.landing": str(landing), "test.sink": str(sink)})
    first = run_update(spark, loaded, spark_workspace)
    assert first.datasets["export"].kind == "sink" and first.datasets["export"].rows_written == 3
    assert sorted(r.id for r in spark.read.format("delta").load(str(sink)).collect()) == [0, 1, 2]
    assert not spark.catalog.tableExists("main.sinks.export")  # a sink is not a pipeline table
    land_json(landing, "b.json", _rows(10, 2))
    second = run_update(spark, loaded, spark_workspace)
    assert second.datasets["export"].rows_written == 2
    assert sorted(r.id for r in spark.read.format("delta").load(str(sink)).collect()) == [0, 1, 2, 10, 11]


FOREACH = {
    "src/sink.py": """
        import json
        import dlt

        @dlt.foreach_batch_sink(name="audit")
        def audit(df, batch_id):
            rows = sorted(r.id for r in df.collect())
            with open(spark.conf.get("test.audit"), "a") as f:
                f.write(json.dumps({"batch": batch_id, "ids": rows}) + "\\n")

        @dlt.append_flow(target="audit")
        def to_audit():
            return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
                    .option("cloudFiles.schemaHints", "id BIGINT, amount DOUBLE")
                    .load(spark.conf.get("test.landing")))
    """,
}


def test_foreach_batch_sink_gets_each_micro_batch_once(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    landing, audit = tmp_path / "landing", tmp_path / "audit.jsonl"
    land_json(landing, "a.json", _rows(0, 3))
    loaded = write_pipeline(tmp_path / "p", "foreach", FOREACH,
                            configuration={"test.landing": str(landing), "test.audit": str(audit)})
    first = run_update(spark, loaded, spark_workspace)
    assert first.datasets["audit"].kind == "sink" and first.datasets["audit"].rows_written == 3
    land_json(landing, "b.json", _rows(10, 2))
    assert run_update(spark, loaded, spark_workspace).datasets["audit"].rows_written == 2
    run_update(spark, loaded, spark_workspace)  # nothing new: the function is not called
    batches = [json.loads(line) for line in audit.read_text().splitlines()]
    assert batches == [{"batch": 0, "ids": [0, 1, 2]}, {"batch": 1, "ids": [10, 11]}]
    assert not spark.catalog.tableExists("main.foreach.audit")


SELECT = {
    "src/sel.py": """
        from pyspark import pipelines as dp

        @dp.table
        def raw():
            return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
                    .option("cloudFiles.schemaHints", "id BIGINT, amount DOUBLE")
                    .load(spark.conf.get("test.landing")))

        @dp.materialized_view
        def totals():
            return spark.read.table("raw").groupBy().count()

        @dp.materialized_view
        def small():
            return spark.range(3)

        @dp.materialized_view
        def other():
            return spark.range(5)
    """,
}


def test_refresh_selections_runner_pipeline_task_and_cli(spark, spark_workspace: Workspace,
                                                          tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    land_json(landing, "a.json", _rows(0, 2))
    loaded = write_pipeline(tmp_path / "jobs", "sel", SELECT, configuration={"test.landing": str(landing)})
    run_update(spark, loaded, spark_workspace)
    tables = ["raw", "totals", "small", "other"]
    before = {t: _version(spark, f"main.sel.{t}") for t in tables}

    # Non-full selection: only `small` gets a new Delta version.
    res = run_update(spark, loaded, spark_workspace, UpdateOptions(refresh_selection=["small"]))
    assert {k: d.status for k, d in res.datasets.items()} == {
        "raw": "SKIPPED", "totals": "SKIPPED", "small": "COMPLETED", "other": "SKIPPED"}
    after = {t: _version(spark, f"main.sel.{t}") for t in tables}
    assert after == {**before, "small": before["small"] + 1}

    # pipeline_task: refresh `other`, fully refresh `raw` (truncated, every file read again).
    land_json(landing, "b.json", _rows(10, 1))
    job = tmp_path / "jobs" / "job.yml"
    job.write_text(textwrap.dedent("""
        name: seljob
        tasks:
          - task_key: p
            pipeline_task: {pipeline: sel.pipeline.yml, refresh_selection: [other], full_refresh_selection: raw}
    """).lstrip())
    ws = load_workspace(tmp_path)
    engine = Engine.open(ws, build_plugin_manager(ws.disabled_plugins))
    run = engine.submit(str(job))
    (row,) = engine.store.task_runs(run["run_id"])
    assert row.result_state == "SUCCESS", row.state_message
    out = row.output["pipeline_output"]["datasets"]
    assert {k: (d["status"], d["rows_written"]) for k, d in out.items()} == {
        "raw": ("COMPLETED", 3), "totals": ("SKIPPED", 0), "small": ("SKIPPED", 0), "other": ("COMPLETED", 5)}
    assert spark.table("main.sel.raw").count() == 3
    now = {t: _version(spark, f"main.sel.{t}") for t in tables}
    assert now["totals"] == after["totals"] and now["small"] == after["small"]
    assert now["other"] == after["other"] + 1

    # The CLI flags: --refresh and --full-refresh-selection together.
    land_json(landing, "c.json", _rows(20, 1))
    res_cli = CliRunner().invoke(cli, ["-w", str(tmp_path), "pipeline", "run", "--refresh", "totals,small",
                                       "--full-refresh-selection", "raw", str(tmp_path / "jobs" / "sel.pipeline.yml")])
    assert res_cli.exit_code == 0, res_cli.output
    lines = {ln.split()[0]: ln.split()[2:4] for ln in res_cli.output.splitlines() if ln.startswith("  ")}
    assert lines == {"raw": ["COMPLETED", "4"], "totals": ["COMPLETED", "1"], "small": ["COMPLETED", "3"],
                     "other": ["SKIPPED", "0"]}
    assert spark.table("main.sel.totals").first()[0] == 4
    assert _version(spark, "main.sel.other") == now["other"]


OPTIONS = {
    "src/opts.py": """
        from pyspark import pipelines as dp

        @dp.materialized_view(comment="partitioned numbers", partition_cols=["part"],
                              table_properties={"lakeloom.test": "yes", "delta.appendOnly": "false"})
        def parted():
            return spark.range(4).selectExpr("id", "CAST(id % 2 AS INT) AS part")

        @dp.materialized_view(cluster_by=["id"])
        def clustered():
            return spark.range(3)

        @dp.materialized_view(schema="id BIGINT, label STRING")
        def typed():
            return spark.range(2).selectExpr("CAST(id AS INT) AS id", "'x' AS label")

        # Declared before its input: `plain` is built while `conf_down` runs.
        @dp.materialized_view(spark_conf={"test.flag": "down"})
        def conf_down():
            seen = spark.conf.get("test.flag", "unset")
            return spark.read.table("plain").selectExpr("flag AS upstream_flag", f"'{seen}' AS flag")

        @dp.materialized_view
        def plain():
            return spark.createDataFrame([(spark.conf.get("test.flag", "unset"),)], "flag STRING")

        @dp.materialized_view
        def after_conf():
            return spark.createDataFrame([(spark.conf.get("test.flag", "unset"),)], "flag STRING")
    """,
}


def test_dataset_options_land_in_delta(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    loaded = write_pipeline(tmp_path / "p", "opts", OPTIONS)
    run_update(spark, loaded, spark_workspace)
    props = {r.key: r.value for r in spark.sql("SHOW TBLPROPERTIES main.opts.parted").collect()}
    assert props["lakeloom.test"] == "yes" and props["delta.appendOnly"] == "false"
    detail = spark.sql("DESCRIBE DETAIL main.opts.parted").first()
    assert detail.description == "partitioned numbers"
    assert list(detail.partitionColumns) == ["part"]
    assert list(spark.sql("DESCRIBE DETAIL main.opts.clustered").first().clusteringColumns) == ["id"]
    assert spark.table("main.opts.typed").dtypes == [("id", "bigint"), ("label", "string")]

    assert spark.table("main.opts.conf_down").first().asDict() == {"upstream_flag": "unset", "flag": "down"}
    assert spark.table("main.opts.after_conf").first().flag == "unset"
    assert spark.conf.get("test.flag", None) is None

    # A second update keeps the layout (an overwrite, not a replace) and the options.
    run_update(spark, loaded, spark_workspace)
    assert list(spark.sql("DESCRIBE DETAIL main.opts.clustered").first().clusteringColumns) == ["id"]
    assert list(spark.sql("DESCRIBE DETAIL main.opts.parted").first().partitionColumns) == ["part"]


def test_declared_schema_missing_column_fails(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    from lakeloom.pipelines.runner import PipelineUpdateFailed

    loaded = write_pipeline(tmp_path / "p", "badschema", {"src/a.py": """
        from pyspark import pipelines as dp

        @dp.materialized_view(schema="id BIGINT, label STRING")
        def typed():
            return spark.range(2)
    """})
    with pytest.raises(PipelineUpdateFailed, match=r"declares column\(s\) \['label'\]"):
        run_update(spark, loaded, spark_workspace)
    assert not spark.catalog.tableExists("main.badschema.typed")


VIEWS = {
    "src/views.py": """
        from pyspark import pipelines as dp

        @dp.temporary_view
        def evens_v():
            return spark.range(6).where("id % 2 = 0")

        @dp.materialized_view
        def from_view():
            return spark.read.table("evens_v").selectExpr("sum(id) AS s")

        dp.create_streaming_table("events", comment="two sources", cluster_by=["id"])

        def _source(sub):
            return (spark.readStream.format("cloudFiles").option("cloudFiles.format", "json")
                    .option("cloudFiles.schemaHints", "id BIGINT, amount DOUBLE")
                    .load(spark.conf.get("test.landing") + "/" + sub))

        @dp.append_flow(target="events")
        def from_a():
            return _source("a")

        @dp.append_flow(target="events", name="from_b_flow")
        def from_b():
            return _source("b")
    """,
}


def test_temporary_view_and_two_append_flows(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    land_json(landing / "a", "1.json", _rows(0, 2))
    land_json(landing / "b", "1.json", _rows(100, 3))
    loaded = write_pipeline(tmp_path / "p", "views", VIEWS, schema="pipeline_views",
                            configuration={"test.landing": str(landing)})
    first = run_update(spark, loaded, spark_workspace)
    assert spark.table("main.pipeline_views.from_view").first().s == 6
    assert first.datasets["from_view"].inputs == ["evens_v"]
    assert not spark.catalog.tableExists("main.pipeline_views.evens_v")
    assert [t.name for t in spark.catalog.listTables("main.pipeline_views")] == sorted(["events", "from_view"])
    assert spark.table("main.pipeline_views.events").count() == 5
    detail = spark.sql("DESCRIBE DETAIL main.pipeline_views.events").first()
    assert detail.description == "two sources" and list(detail.clusteringColumns) == ["id"]

    land_json(landing / "b", "2.json", _rows(200, 1))
    second = run_update(spark, loaded, spark_workspace)
    assert {f.flow: f.rows_written for f in second.datasets["events"].flows} == {"from_a": 0, "from_b_flow": 1}
    assert sorted(r.id for r in spark.table("main.pipeline_views.events").collect()) == [0, 1, 100, 101, 102, 200]


EVLOG = {
    "src/q.py": """
        from pyspark import pipelines as dp

        @dp.materialized_view
        @dp.expect_or_drop("small", "id < 3")
        @dp.expect("even", "id % 2 = 0")
        def checked():
            return spark.range(int(spark.conf.get("test.n")))
    """,
}


def test_event_log_from_sql_and_runs_cli(spark, spark_workspace: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "p"
    loaded = write_pipeline(root, "evlog", EVLOG, configuration={"test.n": "4"})
    first = run_update(spark, loaded, spark_workspace)
    (root / "evlog.pipeline.yml").write_text((root / "evlog.pipeline.yml").read_text().replace("'4'", "'6'"))
    from lakeloom.pipelines.spec import load_pipeline

    second = run_update(spark, load_pipeline(root / "evlog.pipeline.yml"), spark_workspace)
    events = root / "storage" / "system" / "events"
    rows = spark.sql(f"""
        SELECT update_id, max(CASE WHEN event_type = 'update_progress' THEN status END) AS state,
               sum(CAST(get_json_object(details, '$.flow_progress.data_quality.dropped_records') AS INT)) AS dropped,
               max(get_json_object(details, '$.flow_progress.data_quality.expectations')) AS dq
        FROM delta.`{events}` GROUP BY update_id ORDER BY min(timestamp)""").collect()
    assert [(r.update_id, r.state, r.dropped) for r in rows] == [
        (first.update_id, "COMPLETED", 1), (second.update_id, "COMPLETED", 3)]
    dq = {e["name"]: (e["passed_records"], e["failed_records"]) for e in json.loads(rows[1].dq)}
    assert dq == {"small": (3, 3), "even": (3, 3)}

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    code = ("import sys; from lakeloom.cli.main import cli\n"
            "try:\n    cli.main(sys.argv[1:], standalone_mode=False)\n"
            "finally:\n    print('PYSPARK_IMPORTED', 'pyspark' in sys.modules)\n")
    ws_root = str(tmp_path / "ws")
    proc = subprocess.run([sys.executable, "-c", code, "-w", ws_root, "pipeline", "runs", "evlog"], cwd=root,
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "PYSPARK_IMPORTED False" in proc.stdout
    assert first.update_id in proc.stdout and second.update_id in proc.stdout
    assert proc.stdout.count("COMPLETED") == 2
    proc = subprocess.run([sys.executable, "-c", code, "-w", ws_root, "pipeline", "runs", "--json", "evlog"],
                          cwd=root, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    updates = json.loads(proc.stdout[:proc.stdout.rindex("PYSPARK_IMPORTED")])
    assert [(u["update_id"], u["status"], u["dropped_records"], u["failed_records"], u["rows_written"])
            for u in updates] == [(first.update_id, "COMPLETED", 1, 3, 3), (second.update_id, "COMPLETED", 3, 6, 3)]
    # Each dataset's expectations by name, as Databricks' pipeline UI lists them.
    assert {(x["dataset"], x["name"], x["action"], x["passed_records"], x["failed_records"], x["dropped_records"])
            for x in updates[1]["expectations"]} == {("checked", "small", "drop", 3, 3, 3),
                                                     ("checked", "even", "warn", 3, 3, 0)}
    table_out = subprocess.run([sys.executable, "-c", code, "-w", ws_root, "pipeline", "runs", "evlog"], cwd=root,
                               capture_output=True, text=True, env=env, timeout=60).stdout
    assert "Expectations of evlog" in table_out and "small" in table_out and "even" in table_out
