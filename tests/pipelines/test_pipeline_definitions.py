"""Pipeline definitions without a JVM: YAML resources, SQL statements, query rewriting, and
collecting Python (``dp`` / ``dlt``) and SQL sources through pyspark's registry."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from lakeloom.config import load_workspace
from lakeloom.pipelines.expectations import Expectation, parse_sql_constraint
from lakeloom.pipelines.graph import rewrite_query
from lakeloom.pipelines.loader import load_graph
from lakeloom.pipelines.model import PipelineDefinitionError
from lakeloom.pipelines.registry import PipelineRegistry
from lakeloom.pipelines.spec import load_pipeline, load_pipeline_documents
from lakeloom.runtime.sqltext import split_statements
from lakeloom.spec.loader import JobSpecError


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip())


def test_bundle_and_standalone_pipeline_resources(tmp_path: Path) -> None:
    _write(tmp_path, {
        "bundle.yml": """
            resources:
              jobs:
                j: {name: j, tasks: [{task_key: p, pipeline_task: {pipeline_id: sales}}]}
              pipelines:
                sales:
                  catalog: main
                  target: sales_db
                  libraries: [{glob: {include: src/*}}, {file: {path: extra.sql}}]
                  configuration: {flag: true, n: 3}
                  continuous: false
        """,
        "src/a.py": "x = 1\n", "src/b.sql": "SELECT 1", "extra.sql": "SELECT 2",
        "solo.pipeline.yml": "name: solo\nschema: s\nlibraries: [{notebook: {path: src/a}}]\n",
    })
    (sales,) = load_pipeline_documents(tmp_path / "bundle.yml")
    assert (sales.key, sales.spec.name, sales.spec.schema_name) == ("sales", "sales", "sales_db")
    assert sales.spec.configuration == {"flag": "true", "n": "3"}
    assert sales.spec.ignored_fields == ["continuous"]
    assert [p.name for p in sales.library_files()] == ["a.py", "b.sql", "extra.sql"]
    assert load_pipeline("sales", base_dir=tmp_path).source == sales.source
    assert load_pipeline(str(tmp_path / "bundle.yml") + "::sales").key == "sales"
    solo = load_pipeline("solo.pipeline.yml", base_dir=tmp_path)
    assert [p.name for p in solo.library_files()] == ["a.py"]  # notebook path without extension


def test_pipeline_errors_name_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pipeline.yml"
    bad.write_text("name: bad\nlibraries:\n  - {file: {path: missing.py}}\nbogus: 1\n")
    with pytest.raises(JobSpecError) as e:
        load_pipeline(bad)
    assert f"{bad}:4: field 'bogus': unknown field" in str(e.value)
    bad.write_text("name: bad\nlibraries:\n  - {file: {path: missing.py}}\n")
    with pytest.raises(JobSpecError, match=r"bad.pipeline.yml:3: field 'libraries\[0\].file.path': file 'missing.py' not found"):
        load_pipeline(bad).library_files()
    with pytest.raises(JobSpecError, match="no pipeline file or pipeline named 'nope'"):
        load_pipeline("nope", base_dir=tmp_path)


def test_pipeline_storage_maps_databricks_paths_into_the_workspace(tmp_path: Path) -> None:
    ws = load_workspace(tmp_path)
    spec = tmp_path / "p.pipeline.yml"
    spec.write_text("name: p\nstorage: dbfs:/pipelines/p\nlibraries: [{file: {path: a.py}}]\n")
    assert load_pipeline(spec).storage_dir(ws) == ws.state_dir / "dbfs" / "pipelines" / "p"
    spec.write_text("name: p\nstorage: s3://bucket/p\nlibraries: [{file: {path: a.py}}]\n")
    with pytest.raises(JobSpecError, match=r"p.pipeline.yml:2: field 'storage': storage: the scheme of 's3://bucket/p'"):
        load_pipeline(spec).storage_dir(ws)


def test_sql_statements_and_constraints() -> None:
    stmts = split_statements("-- c\nSET a = 1;\n/* x; */ SELECT ';' AS s;\n\nSELECT 2")
    assert stmts == [("SET a = 1", 2), ("SELECT ';' AS s", 3), ("SELECT 2", 5)]
    e = parse_sql_constraint("CONSTRAINT ok EXPECT (a > 0 AND (b IS NULL)) ON VIOLATION DROP ROW", where="f:1")
    assert e == Expectation("ok", "a > 0 AND (b IS NULL)", "drop")
    assert parse_sql_constraint("CONSTRAINT f EXPECT (x) ON VIOLATION FAIL UPDATE", where="").action == "fail"
    assert parse_sql_constraint("id INT", where="") is None


def test_query_rewriting_for_stream_read_files_and_live() -> None:
    r = rewrite_query("SELECT * FROM STREAM(LIVE.raw) r JOIN live.dim d ON r.id = d.id", prefix="v")
    assert r.sql == "SELECT * FROM v_0 r JOIN dim d ON r.id = d.id"
    assert r.views == {"v_0": ("stream", "raw")}
    r = rewrite_query("SELECT * FROM STREAM read_files('/in/x', format => 'csv', header => true)", prefix="v")
    assert r.views == {"v_0": ("files", (True, "/in/x", {"format": "csv", "header": "true"}))}
    assert rewrite_query("SELECT stream FROM t").sql == "SELECT stream FROM t"
    # Legacy Auto Loader SQL: always a stream, columns strings unless cloudFiles.inferColumnTypes says so.
    r = rewrite_query("SELECT * FROM cloud_files('/in/s', 'xml', map('rowTag', 'supplier', "
                      "'cloudFiles.inferColumnTypes', 'true')) WHERE x = 'cloud_files(y)'", prefix="v")
    assert r.sql == "SELECT * FROM v_0 WHERE x = 'cloud_files(y)'"
    assert r.views == {"v_0": ("files", (True, "/in/s", {"format": "xml", "inferColumnTypes": "true",
                                                         "rowTag": "supplier"}))}
    r = rewrite_query('SELECT * FROM cloud_files("/in/j", "json")', prefix="v")
    assert r.views == {"v_0": ("files", (True, "/in/j", {"format": "json", "inferColumnTypes": "false"}))}
    with pytest.raises(ValueError, match=r"cloud_files: options must be map\(key, value, ...\)"):
        rewrite_query("SELECT * FROM cloud_files('/in/j', 'json', map('header'))")


def _collect(tmp_path: Path, files: dict[str, str]) -> PipelineRegistry:
    _write(tmp_path, files)
    (tmp_path / "p.pipeline.yml").write_text("name: p\nlibraries: [{glob: {include: src/*}}]\n")
    return load_graph(load_pipeline(tmp_path / "p.pipeline.yml"), None)  # type: ignore[arg-type]


def test_python_and_sql_sources_collected_through_the_registry(tmp_path: Path) -> None:
    reg = _collect(tmp_path, {
        "src/a.py": """
            from pyspark import pipelines as dp

            @dp.expect("above", "x > 0")       # above the dataset decorator
            @dp.table(name="events", comment="c", partition_cols=["d"])
            @dp.expect_or_drop("below", "y IS NOT NULL")
            def make_events():
                return spark.readStream.table("raw")

            dp.create_streaming_table("dim")
            dp.create_auto_cdc_flow(target="dim", source="events", keys=["id"], sequence_by="ts",
                                    stored_as_scd_type=2, track_history_except_column_list=["note"])
            assert make_events is None
        """,
        "src/b.py": """
            import dlt

            @dlt.view
            @dlt.expect_all_or_fail({"k": "k IS NOT NULL"})
            def v():
                return dlt.read("events")
        """,
        "src/c.sql": """
            CREATE OR REFRESH STREAMING TABLE raw (CONSTRAINT id_ok EXPECT (id IS NOT NULL) ON VIOLATION FAIL UPDATE)
              PARTITIONED BY (d) TBLPROPERTIES ('quality' = 'bronze')
            AS SELECT * FROM STREAM read_files('/landing', format => 'json');
            CREATE FLOW backfill AS INSERT INTO ONCE raw BY NAME SELECT * FROM read_files('/old', format => 'json');
            APPLY CHANGES INTO dim2 FROM STREAM(events) KEYS (id) APPLY AS DELETE WHEN op = 'D'
              SEQUENCE BY ts COLUMNS * EXCEPT (op) STORED AS SCD TYPE 2 TRACK HISTORY ON (name, city);
            CREATE STREAMING TABLE dim2;
        """,
    })
    kinds = {d.name: d.kind for d in reg.datasets.values()}
    assert kinds == {"events": "streaming_table", "dim": "streaming_table", "v": "view", "raw": "streaming_table",
                     "dim2": "streaming_table"}
    events = reg.flows["events"]
    assert sorted(e.name for e in events.expectations) == ["above", "below"]
    assert reg.datasets["events"].partition_cols == ["d"] and reg.datasets["events"].location.endswith("a.py:4")
    assert reg.flows["dim"].cdc.stored_as_scd_type == 2
    assert reg.flows["dim"].cdc.track_history_except_column_list == ["note"]
    assert reg.flows["v"].expectations == [Expectation("k", "k IS NOT NULL", "fail")]
    raw = reg.datasets["raw"]
    assert raw.expectations[0].action == "fail" and raw.table_properties == {"quality": "bronze"}
    assert reg.flows["backfill"].once and reg.flows["backfill"].target == "raw"
    cdc2 = reg.flows["dim2"].cdc
    assert (cdc2.source, cdc2.keys, cdc2.apply_as_deletes, cdc2.except_column_list,
            cdc2.track_history_column_list) == ("events", ["id"], "op = 'D'", ["op"], ["name", "city"])
    import pyspark.pipelines as dp

    assert "dlt" not in sys.modules and not hasattr(dp, "expect")  # only while loading


def test_definition_errors_name_the_source(tmp_path: Path) -> None:
    with pytest.raises(PipelineDefinitionError, match=r"a.py:\d+: dataset 'x' is defined twice"):
        _collect(tmp_path / "1", {"src/a.py": """
            from pyspark import pipelines as dp
            dp.create_streaming_table("x")
            dp.create_streaming_table("x")
        """})
    with pytest.raises(PipelineDefinitionError, match="flow 'f'.* targets 'nowhere', which is not defined"):
        _collect(tmp_path / "2", {"src/a.py": """
            from pyspark import pipelines as dp
            @dp.append_flow(target="nowhere")
            def f():
                return None
        """})
    with pytest.raises(PipelineDefinitionError, match=r"b.sql:2: unsupported statement"):
        _collect(tmp_path / "3", {"src/b.sql": "CREATE MATERIALIZED VIEW m AS SELECT 1;\nDROP TABLE m"})
    with pytest.raises(PipelineDefinitionError, match=r"c.py:2: loading the pipeline source failed: NameError"):
        _collect(tmp_path / "4", {"src/c.py": "x = 1\nundefined_name()\n"})


def test_sql_comments_and_properties_in_either_quote_style() -> None:
    from lakeloom.pipelines.sql import register_sql_text

    reg = PipelineRegistry("quotes")
    register_sql_text(reg, textwrap.dedent('''
        CREATE OR REFRESH MATERIALIZED VIEW big
        COMMENT "customers over \\"10\\""
        TBLPROPERTIES ("quality" = "gold", 'owner'='ops')
        AS SELECT 1 AS x;
        CREATE OR REFRESH MATERIALIZED VIEW small COMMENT 'it''s small' AS SELECT 2 AS x;
    '''), "gold.sql")
    assert reg.datasets["big"].comment == 'customers over "10"'
    assert reg.datasets["big"].table_properties == {"quality": "gold", "owner": "ops"}
    assert reg.datasets["small"].comment == "it's small"


def test_sql_notebook_cells_end_statements_without_semicolons() -> None:
    from lakeloom.pipelines.sql import register_sql_text

    reg = PipelineRegistry("cells")
    register_sql_text(reg, textwrap.dedent('''
        -- Databricks notebook source
        CREATE STREAMING TABLE raw_shops
        COMMENT "shops"
        AS SELECT * FROM STREAM(shop.sales.shops)

        -- COMMAND ----------

        CREATE MATERIALIZED VIEW best
        (CONSTRAINT has_id EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW)
        AS SELECT id FROM live.raw_shops;

        -- COMMAND ----------

        CREATE MATERIALIZED VIEW top_1 AS SELECT * FROM live.best LIMIT 1
    ''').lstrip(), "shops.sql")
    assert set(reg.datasets) == {"raw_shops", "best", "top_1"}
    flows = {f.target: f.sql for f in reg.flows.values()}
    assert flows["raw_shops"].strip() == "SELECT * FROM STREAM(shop.sales.shops)"
    assert flows["top_1"].strip() == "SELECT * FROM live.best LIMIT 1"
    assert [e.name for e in reg.datasets["best"].expectations] == ["has_id"]
    assert reg.datasets["best"].location == "shops.sql:8"


def test_legacy_temporary_streaming_live_view() -> None:
    from lakeloom.pipelines.sql import register_sql_text

    reg = PipelineRegistry("legacy")
    register_sql_text(reg, "CREATE TEMPORARY STREAMING LIVE VIEW new_txs COMMENT 'new' "
                           "AS SELECT * FROM stream(raw_txs);", "legacy.sql")
    assert reg.datasets["new_txs"].kind == "view" and reg.datasets["new_txs"].comment == "new"
    assert next(iter(reg.flows.values())).sql == "SELECT * FROM stream(raw_txs)"


def test_cell_separators_outside_a_notebook_are_comments() -> None:
    from lakeloom.pipelines.sql import register_sql_text

    reg = PipelineRegistry("plain")
    register_sql_text(reg, "CREATE MATERIALIZED VIEW a AS SELECT 1 AS x\n-- COMMAND ----------\nUNION ALL SELECT 2;\n",
                      "plain.sql")
    assert "UNION ALL SELECT 2" in next(iter(reg.flows.values())).sql


def test_auto_cdc_from_snapshot_definitions(tmp_path: Path) -> None:
    reg = _collect(tmp_path / "ok", {"src/a.py": """
        import dlt
        from pyspark import pipelines as dp

        def next_snapshot(latest):
            return None

        dp.create_streaming_table("t1")
        dp.create_auto_cdc_from_snapshot_flow(target="t1", source="main.s.src", keys=["k"])
        dlt.create_streaming_table(name="t2")
        dlt.apply_changes_from_snapshot(target="t2", snapshot_and_version=next_snapshot, keys=["k", "j"],
                                        stored_as_scd_type="2", track_history_except_column_list=["v"])
    """})
    s1, s2 = reg.flows["t1"].snapshot, reg.flows["t2"].snapshot
    assert (s1.source, s1.keys, s1.stored_as_scd_type, s1.once) == ("main.s.src", ["k"], 1, False)
    assert (callable(s2.source), s2.keys, s2.stored_as_scd_type, s2.track_history_except_column_list) == (
        True, ["k", "j"], 2, ["v"])
    assert reg.flows["t1"].cdc is None
    errors = {
        "track_history_column_list=['v']": "into 't': track_history_\\* needs stored_as_scd_type=2",
        "source=3": "into 't': source must be a table or view name or a function",
        "source='s', snapshot_and_version='s'": "into 't': give source or snapshot_and_version, not both",
        "keys=[]": "into 't': at least one key is required",
    }
    for i, (args, message) in enumerate(errors.items()):
        call = f"dp.create_auto_cdc_from_snapshot_flow(target='t', {args}" + (", keys=['k']" if "keys" not in args
                                                                               else "")
        if "source" not in args:
            call += ", source='s'"
        with pytest.raises(PipelineDefinitionError, match=message):
            _collect(tmp_path / str(i), {"src/a.py": f"""
                from pyspark import pipelines as dp
                dp.create_streaming_table("t")
                {call})
            """})


def test_sql_set_without_a_value_only_shows_and_changes_nothing(tmp_path: Path) -> None:
    # Databricks' DLT CDC example (SQL) starts with "SET spark.source;"
    reg = _collect(tmp_path, {"src/a.sql": """
        SET spark.source;
        SET;
        SET -v;
        SET pipelines.x = 'y';
        CREATE OR REFRESH MATERIALIZED VIEW m AS SELECT 1 AS a;
    """})
    assert reg.sql_conf == {"pipelines.x": "y"} and list(reg.datasets) == ["m"]
    with pytest.raises(PipelineDefinitionError, match="unsupported statement in a pipeline SQL file: 'SET a b'"):
        _collect(tmp_path / "bad", {"src/a.sql": "SET a b;\nCREATE MATERIALIZED VIEW m AS SELECT 1"})


def test_spark_pipeline_yml_is_found_like_spark_pipelines_and_names_its_schema_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lakeloom.cli.main import cli
    from lakeloom.pipelines.spec import find_spark_pipeline_spec

    # OSS-SDP-HelloWorld's shape: spark-pipeline.yaml with name, storage and a glob; `database`
    # is Apache Spark's name for the schema.
    _write(tmp_path, {
        "spark-pipeline.yaml": f"""
            name: sdp_example
            database: events_db
            storage: file://{tmp_path}/pipeline-storage
            libraries:
              - glob:
                  include: transformations/**
        """,
        "transformations/aggregate.sql": "CREATE MATERIALIZED VIEW c AS SELECT 1 AS n;\n",
    })
    (tmp_path / "transformations" / "deeper").mkdir()
    assert find_spark_pipeline_spec(tmp_path / "transformations" / "deeper") == tmp_path / "spark-pipeline.yaml"
    loaded = load_pipeline(find_spark_pipeline_spec(tmp_path))
    assert (loaded.spec.name, loaded.spec.catalog, loaded.spec.schema_name) == ("sdp_example", "main", "events_db")

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["-w", str(tmp_path / "ws"), "pipeline", "runs"])
    assert res.exit_code == 0, res.output
    # found without a REF, and its storage URI names the folder whose event log is read
    assert res.output.strip() == f"no updates recorded in {tmp_path / 'pipeline-storage'}"

    (tmp_path / "spark-pipeline.yml").write_text("name: other\nstorage: /tmp/x\nlibraries: []\n")
    with pytest.raises(JobSpecError, match="both spark-pipeline.yaml and spark-pipeline.yml"):
        find_spark_pipeline_spec(tmp_path)
    empty = tmp_path.parent / f"{tmp_path.name}-empty"
    empty.mkdir()
    with pytest.raises(JobSpecError, match="no pipeline given, and no spark-pipeline.yaml"):
        find_spark_pipeline_spec(empty)
