"""The workspace config: the example conf/lakeloom.yml, and the one Databricks path mapping."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.config import load_workspace

ROOT = Path(__file__).resolve().parents[1]


def test_local_path_maps_databricks_paths_into_the_workspace(tmp_path: Path) -> None:
    ws = load_workspace(tmp_path)
    dbfs, volumes = ws.state_dir / "dbfs", ws.state_dir / "volumes"
    assert ws.local_path("dbfs:/a/b.json") == ws.local_path("/dbfs/a/b.json") == dbfs / "a" / "b.json"
    assert ws.local_path("/Volumes/main/raw/landing//x.csv") == volumes / "main" / "raw" / "landing" / "x.csv"
    assert ws.local_path("file:/tmp/a%20b") == Path("/tmp/a%20b")  # as Hadoop reads it: not URL-decoded
    assert ws.local_path("data/in") == tmp_path / "data" / "in"
    assert ws.local_path("data/in", tmp_path / "job") == tmp_path / "job" / "data" / "in"
    with pytest.raises(ValueError, match="s3://b/k.*not supported locally"):
        ws.local_path("s3://b/k")
