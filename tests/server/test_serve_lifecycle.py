"""What a running `serve` declares about its process: its Spark driver outlives each run."""
from __future__ import annotations

from pathlib import Path

from lakeloom.runtime import delta_warmup
from serving import LiveServer, make_workspace


def test_serve_builds_written_tables_delta_state_only_while_it_runs(tmp_path: Path) -> None:
    assert not delta_warmup.enabled()
    srv = LiveServer(make_workspace(tmp_path / "ws"), scheduler=False)
    try:
        # Pipeline updates of its runs queue their tables (tests/runtime/test_delta_warmup.py).
        assert delta_warmup.enabled()
    finally:
        srv.close()
    assert not delta_warmup.enabled()
