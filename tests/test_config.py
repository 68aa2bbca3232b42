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


def test_the_example_config_keeps_the_demo_on_its_defaults(tmp_path: Path) -> None:
    """conf/lakeloom.yml is read whenever the repository is the workspace (make demo, the CLI):
    its active settings must be the defaults, and it shows every key config.py documents."""
    ws, bare = load_workspace(ROOT), load_workspace(tmp_path)
    for attr in ("default_catalog", "default_schema", "catalogs", "max_parallel_tasks", "spark_master",
                 "spark_conf", "disabled_plugins", "secrets_file", "continuous_max_backoff_seconds"):
        assert getattr(ws, attr) == getattr(bare, attr), attr
    assert ws.warehouse_dir == ws.state_dir / "warehouse" and ws.volumes_root == ws.state_dir / "volumes"
    assert ws.store_url == f"sqlite:///{ws.state_dir / 'lakeloom.db'}"
    assert load_workspace(ROOT, target="prod").spark_master.startswith("spark://")

    import lakeloom.config

    documented = {line.split(":")[0].strip() for line in (lakeloom.config.__doc__ or "").splitlines()
                  if line.startswith("    ") and not line.startswith("     ") and ":" in line}
    text = (ROOT / "conf" / "lakeloom.yml").read_text()
    assert documented and [k for k in documented if f"{k}:" not in text] == []
