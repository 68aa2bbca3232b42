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
