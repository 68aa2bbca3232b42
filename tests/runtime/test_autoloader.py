"""Auto Loader outside pipelines, on the paths Databricks notebooks build themselves."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.runtime.autoloader import cloudfiles_stream

pytestmark = pytest.mark.spark

XML = """<?xml version="1.0"?>
<animals>
  <species id="A1"><name>Okapi</name><status>Endangered</status></species>
  <species id="A2"><name>Kakapo</name><status>Critical</status></species>
</animals>
"""


def test_a_single_file_named_by_a_file_uri_is_read(spark, tmp_path: Path) -> None:  # noqa: ANN001
    # XML-ingest-demo's shape: load(f"file:{os.getcwd()}/endangered_species.xml") on one file.
    (tmp_path / "zoo.xml").write_text(XML)
    df = cloudfiles_stream(spark, f"file:{tmp_path}/zoo.xml", {
        "cloudFiles.format": "xml", "rowTag": "species", "cloudFiles.schemaLocation": str(tmp_path / "schema")})
    assert df.isStreaming and {"_id", "name", "status"} <= set(df.columns)
    query = df.writeStream.format("memory").queryName("zoo_file_uri").trigger(availableNow=True).start()
    query.awaitTermination()
    assert sorted(r.name for r in spark.table("zoo_file_uri").collect()) == ["Kakapo", "Okapi"]
    spark.catalog.dropTempView("zoo_file_uri")


def _land(folder: Path, name: str, rows: list[dict]) -> None:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def _drain(spark, df, name: str) -> list:  # noqa: ANN001
    query = df.writeStream.format("memory").queryName(name).trigger(availableNow=True).start()
    query.awaitTermination()
    rows = spark.table(name).collect()
    spark.catalog.dropTempView(name)
    return rows


def test_add_new_columns_stops_the_stream_once_and_the_next_run_reads_them(spark, tmp_path: Path) -> None:  # noqa: ANN001
    """Auto Loader's default mode without a schema: a new column stops the stream with
    UnknownFieldException after merging it into the stored schema; the next run reads it."""
    from lakeloom.runtime.autoloader import UnknownFieldException

    landing, schema_at = tmp_path / "landing", str(tmp_path / "schema")
    options = {"cloudFiles.format": "json", "cloudFiles.schemaLocation": schema_at}
    _land(landing, "a.json", [{"id": 1, "name": "x"}])
    first = cloudfiles_stream(spark, str(landing), options)
    assert first.columns == ["id", "name", "_rescued_data"]
    assert cloudfiles_stream(spark, str(landing), options).columns == first.columns  # nothing new: no error

    _land(landing / "later", "b.json", [{"id": 2, "name": "y", "Country": "NL"}])
    with pytest.raises(UnknownFieldException, match="unknown fields Country"):
        cloudfiles_stream(spark, str(landing), options)
    again = cloudfiles_stream(spark, str(landing), options)
    assert again.columns == ["id", "name", "Country", "_rescued_data"]  # new columns at the end
    rows = _drain(spark, again, "al_evolved")
    assert sorted((r.id, r.Country) for r in rows) == [("1", None), ("2", "NL")]

    # a copy that keeps an old modification time is a new file too
    import os

    _land(landing, "c.json", [{"id": 3, "city": "Delft"}])
    os.utime(landing / "c.json", (0, 0))
    with pytest.raises(UnknownFieldException, match="city"):
        cloudfiles_stream(spark, str(landing), options)


def test_fail_on_new_columns_rescue_and_none_keep_the_schema(spark, tmp_path: Path) -> None:  # noqa: ANN001
    from lakeloom.runtime.autoloader import AutoLoaderError, UnknownFieldException

    landing, schema_at = tmp_path / "landing", str(tmp_path / "schema")
    _land(landing, "a.json", [{"id": 1}])
    base = {"cloudFiles.format": "json", "cloudFiles.schemaLocation": schema_at}
    cloudfiles_stream(spark, str(landing), {**base, "cloudFiles.schemaEvolutionMode": "failOnNewColumns"})
    _land(landing, "b.json", [{"id": 2, "extra": True}])
    for _ in range(2):  # it does not evolve, so it fails again
        with pytest.raises(UnknownFieldException, match="new columns extra .*failOnNewColumns"):
            cloudfiles_stream(spark, str(landing), {**base, "cloudFiles.schemaEvolutionMode": "failOnNewColumns"})
    kept = cloudfiles_stream(spark, str(landing), {**base, "cloudFiles.schemaEvolutionMode": "rescue"})
    assert kept.columns == ["id", "_rescued_data"]
    given = cloudfiles_stream(spark, str(landing), base, schema="id STRING")  # a given schema: mode none
    assert given.columns == ["id"]
    with pytest.raises(AutoLoaderError, match="schemaEvolutionMode 'sometimes'"):
        cloudfiles_stream(spark, str(landing), {**base, "cloudFiles.schemaEvolutionMode": "sometimes"})


def test_csv_headers_are_checked_without_spark_and_new_ones_evolve(spark, tmp_path: Path) -> None:  # noqa: ANN001
    from lakeloom.runtime.autoloader import UnknownFieldException

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text("id,name\n1,x\n")
    options = {"cloudFiles.format": "csv", "header": "true", "cloudFiles.schemaLocation": str(tmp_path / "s")}
    assert cloudfiles_stream(spark, str(landing), options).columns == ["id", "name", "_rescued_data"]
    (landing / "b.csv").write_text("id,name\n2,y\n")
    assert cloudfiles_stream(spark, str(landing), options).columns == ["id", "name", "_rescued_data"]
    (landing / "c.csv").write_text("id,name,email\n3,z,z@example.com\n")
    with pytest.raises(UnknownFieldException, match="email"):
        cloudfiles_stream(spark, str(landing), options)
    rows = _drain(spark, cloudfiles_stream(spark, str(landing), options), "al_csv_evolved")
    assert sorted((r.id, r.name, r.email) for r in rows) == [
        ("1", "x", None), ("2", "y", None), ("3", "z", "z@example.com")]


def test_rescue_mode_keeps_the_sampled_schema_and_rescues_the_rest(spark, tmp_path: Path) -> None:  # noqa: ANN001
    """delta-live-tables-notebooks' JHU COVID-19 pipeline: the schema comes from the first files
    (sampleSize.numFiles), later files' new fields and values that do not fit land in
    _rescued_data as JSON with _file_path, and _metadata still works."""
    import json

    from lakeloom.runtime.autoloader import SAMPLE_FILES_CONF

    landing = tmp_path / "landing"
    _land(landing, "01.json", [{"Country": "NL", "Confirmed": 1}])
    _land(landing, "02.json", [{"Country": "BE", "Confirmed": "many", "FIPS": "53033", "Geo": {"lat": 1.5}}])
    (landing / "02.json").write_text((landing / "02.json").read_text() + "not json\n")
    spark.conf.set(SAMPLE_FILES_CONF, "1")
    try:
        df = cloudfiles_stream(spark, str(landing), {
            "cloudFiles.format": "json", "cloudFiles.inferColumnTypes": "true",
            "cloudFiles.schemaEvolutionMode": "rescue", "cloudFiles.schemaLocation": str(tmp_path / "s")})
    finally:
        spark.conf.unset(SAMPLE_FILES_CONF)
    assert df.columns == ["Confirmed", "Country", "_rescued_data"]  # Spark sorts inferred JSON fields
    rows = _drain(spark, df.selectExpr("*", "_metadata.file_name AS file"), "al_rescue")
    got = {(r.file, r.Country): (r.Confirmed, r._rescued_data) for r in rows}
    assert got[("01.json", "NL")] == (1, None)
    confirmed, rescued = got[("02.json", "BE")]
    assert confirmed is None
    rescued = json.loads(rescued)
    assert rescued["Confirmed"] == "many" and rescued["FIPS"] == "53033" and json.loads(rescued["Geo"]) == {"lat": 1.5}
    assert rescued["_file_path"].endswith("/landing/02.json")
    assert got[("02.json", None)] == (None, "not json")


def test_files_past_the_inference_sample_evolve_the_schema(spark, tmp_path: Path) -> None:  # noqa: ANN001
    from lakeloom.runtime.autoloader import SAMPLE_FILES_CONF, UnknownFieldException

    landing = tmp_path / "landing"
    _land(landing, "a.json", [{"id": 1}])
    _land(landing, "b.json", [{"id": 2, "late": "x"}])
    options = {"cloudFiles.format": "json", "cloudFiles.schemaLocation": str(tmp_path / "s")}
    spark.conf.set(SAMPLE_FILES_CONF, "1")
    try:
        with pytest.raises(UnknownFieldException, match="late"):  # as the first Databricks run stops
            cloudfiles_stream(spark, str(landing), options)
        assert cloudfiles_stream(spark, str(landing), options).columns == ["id", "late", "_rescued_data"]
    finally:
        spark.conf.unset(SAMPLE_FILES_CONF)


def test_clean_source_move_archives_processed_files(spark, tmp_path: Path) -> None:  # noqa: ANN001
    """bundle-examples' file-push template: cloudFiles.cleanSource MOVE to moveDestination (Spark
    archives a file once the batch after the one that read it commits)."""
    from lakeloom.runtime.autoloader import AutoLoaderError

    landing, archive = tmp_path / "landing", tmp_path / "archive"
    for name in ("a.json", "b.json", "c.json"):
        _land(landing, name, [{"id": name}])
    options = {"cloudFiles.format": "json", "cloudFiles.schemaLocation": str(tmp_path / "s"),
               "cloudFiles.maxFilesPerTrigger": "1", "cloudFiles.cleanSource": "MOVE",
               "cloudFiles.cleanSource.retentionDuration": "1 day",
               "cloudFiles.cleanSource.moveDestination": str(archive)}
    df = cloudfiles_stream(spark, str(landing), options)
    query = df.writeStream.format("memory").queryName("al_clean").option(
        "checkpointLocation", str(tmp_path / "cp")).trigger(availableNow=True).start()
    query.awaitTermination()
    assert sorted(r.id for r in spark.table("al_clean").collect()) == ["a.json", "b.json", "c.json"]
    spark.catalog.dropTempView("al_clean")
    moved = sorted(p.name for p in archive.rglob("*.json"))
    assert moved and set(moved) <= {"a.json", "b.json"}
    assert not any((landing / name).exists() for name in moved)
    with pytest.raises(AutoLoaderError, match="moveDestination"):
        cloudfiles_stream(spark, str(landing), {**options, "cloudFiles.cleanSource.moveDestination": ""})
