"""Reading a source's Delta log between two refreshes, rewriting a view's SQL over changes, and
the recorded analysis of a view's plan (no Spark: the Delta log is JSON lines, sqlglot rewrites
the text, a recorded analysis is JSON)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeloom.pipelines.mv_plan import ANALYSIS_VERSION, AggregateOutput, PlanShape
from lakeloom.pipelines.mv_state import ViewState, change_feed_from_log, changes_between, latest_version, local_dir
from lakeloom.pipelines.sql_tables import replace_tables


def _commit(table: Path, version: int, *actions: dict) -> None:
    log = table / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    (log / f"{version:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))


def _info(operation: str, **params: str) -> dict:
    return {"commitInfo": {"operation": operation, "operationParameters": params}}


def test_changes_between_tells_appends_from_rewrites_and_overwrites(tmp_path: Path) -> None:
    t = tmp_path / "t"
    _commit(t, 0, {"metaData": {"id": "x"}}, _info("CREATE TABLE"))
    _commit(t, 1, _info("STREAMING UPDATE", outputMode="Append"), {"add": {"path": "a", "dataChange": True}})
    _commit(t, 2, _info("WRITE", mode="Append"), {"add": {"path": "b", "dataChange": True}})
    _commit(t, 3, _info("OPTIMIZE"), {"remove": {"path": "a", "dataChange": False}},
            {"add": {"path": "c", "dataChange": False}})
    assert latest_version(t) == 3
    appends = changes_between(t, 0, 3)
    assert (appends.commits, appends.inserts_only, appends.problem) == (3, True, None)

    _commit(t, 4, _info("DELETE"), {"remove": {"path": "c", "dataChange": True}})
    deletes = changes_between(t, 3, 4)
    assert (deletes.inserts_only, deletes.problem) == (False, None)

    _commit(t, 5, _info("WRITE", mode="Overwrite"), {"add": {"path": "d", "dataChange": True}})
    assert changes_between(t, 4, 5).problem == "overwritten at version 5 (WRITE)"
    _commit(t, 6, _info("SET TBLPROPERTIES"), {"metaData": {"id": "x"}})
    assert changes_between(t, 5, 6).problem == "schema or properties changed at version 6"
    (t / "_delta_log" / f"{4:020d}.json").unlink()
    assert changes_between(t, 3, 4).problem == "commit 4 is no longer in the Delta log"


def test_local_dir_only_for_local_locations() -> None:
    assert local_dir("file:/tmp/a%20b/t") == Path("/tmp/a b/t")
    assert local_dir("/tmp/t") == Path("/tmp/t")
    assert local_dir("s3a://bucket/t") is None


def test_replace_tables_keeps_aliases_and_ctes() -> None:
    sql = replace_tables("SELECT s.region, count(*) FROM silver s JOIN main.bench.dims ON s.k = dims.k GROUP BY 1",
                         {"silver": "__v1", "main.bench.dims": "__v2"})
    assert sql == "SELECT s.region, COUNT(*) FROM __v1 AS s JOIN __v2 AS dims ON s.k = dims.k GROUP BY 1"
    with_cte = replace_tables("WITH silver_recent AS (SELECT * FROM silver) SELECT silver.id FROM silver",
                              {"silver": "__v1"})
    assert with_cte == "WITH silver_recent AS (SELECT * FROM __v1 AS silver) SELECT silver.id FROM __v1 AS silver"
    with pytest.raises(ValueError, match="none of its table references matched"):
        replace_tables("SELECT 1 FROM other", {"silver": "__v1"})


def test_a_recorded_analysis_is_reused_only_for_the_same_plan() -> None:
    outputs = [AggregateOutput("region", True), AggregateOutput("n", False, "count")]
    shape = PlanShape("aggregate", leaves=1, outputs=outputs,
                      aggregate_on_top=True, source_keys=["region"], signature="abc", tracked_reads=1)
    record = json.loads(json.dumps(shape.to_record()))  # as the view's state file holds it
    again = PlanShape.from_record(record, "abc", 1)
    assert again == shape and again.combinable and again.keys == ["region"]
    assert PlanShape.from_record(record, "other plan", 1) is None
    assert PlanShape.from_record(record, "abc", 2) is None  # the flow reads another number of tables
    assert PlanShape.from_record({**record, "analysis_version": ANALYSIS_VERSION - 1}, "abc", 1) is None
    assert PlanShape.from_record({**record, "kind": "unknown"}, "abc", 1) is None  # only the signature was taken
    assert PlanShape.from_record({**record, "outputs": [{"bogus": 1}]}, "abc", 1) is None


def test_view_states_of_older_versions_still_load() -> None:
    old = ViewState(**{"signature": "s", "schema": "{}", "target_version": 3, "sources": {"orders": 7}})
    assert old.shape is None and old.tables == {}


def test_change_feed_setting_is_read_from_the_newest_metadata_commit(tmp_path: Path) -> None:
    def meta(cdf: str | None) -> dict:
        return {"metaData": {"id": "t", "configuration": {} if cdf is None else {"delta.enableChangeDataFeed": cdf}}}

    table = tmp_path / "t"
    _commit(table, 0, _info("CREATE TABLE"), meta("true"))
    _commit(table, 1, _info("WRITE", mode="Append"), {"add": {"path": "a.parquet", "dataChange": True}})
    assert change_feed_from_log(table) is True
    _commit(table, 2, _info("SET TBLPROPERTIES"), meta("false"))
    _commit(table, 3, _info("WRITE", mode="Append"), {"add": {"path": "b.parquet", "dataChange": True}})
    assert change_feed_from_log(table) is False
    assert change_feed_from_log(table, limit=1) is None  # not among the newest commits: Spark is asked
    (table / "_delta_log" / f"{2:020d}.json").unlink()
    assert change_feed_from_log(table) is None  # a commit is gone (log cleanup)
