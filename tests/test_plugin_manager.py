"""The plugin manager's one merge of the plugins' Spark settings (``plugin_spark_conf``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lakeloom.config import load_workspace
from lakeloom import hookimpl
from lakeloom.plugin_manager import build_plugin_manager, plugin_spark_conf
from lakeloom.runtime.spark import spark_conf


class _Asks:
    """A plugin asking for fixed Spark settings (``None`` asks for nothing)."""

    def __init__(self, conf: dict[str, str] | None) -> None:
        self.conf = conf

    @hookimpl
    def lakeloom_spark_conf(self, workspace: Any) -> dict[str, str] | None:
        return None if self.conf is None else {**self.conf, "spark.lakeloom.test.root": str(workspace.root)}


class _AsksLast(_Asks):
    @hookimpl(trylast=True)
    def lakeloom_spark_conf(self, workspace: Any) -> dict[str, str] | None:
        return self.conf


def test_plugin_spark_conf_merges_in_call_order_first_registered_wins(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text(
        "spark:\n  conf:\n    spark.lakeloom.test.shared: workspace\n")
    ws = load_workspace(tmp_path)
    pm = build_plugin_manager(ws.disabled_plugins, load_entry_points=False, extra_plugins=(
        _Asks({"spark.lakeloom.test.a": "first", "spark.lakeloom.test.shared": "first"}),
        _Asks(None),
        _Asks({"spark.lakeloom.test.b": "second", "spark.lakeloom.test.a": "second"}),
        _AsksLast({"spark.lakeloom.test.c": "trylast", "spark.lakeloom.test.b": "trylast"}),
    ))
    conf = plugin_spark_conf(ws, pm)
    # pluggy calls the last registered first and trylast at the end; each answer replaces the
    # keys of those before it, so the first registered wins and a trylast plugin wins over all.
    assert conf == {"spark.lakeloom.test.a": "first", "spark.lakeloom.test.shared": "first",
                    "spark.lakeloom.test.b": "trylast", "spark.lakeloom.test.c": "trylast",
                    "spark.lakeloom.test.root": str(ws.root)}
    full = spark_conf(ws, conf)
    assert full["spark.lakeloom.test.shared"] == "workspace"  # the workspace's spark.conf wins over plugins
    assert full["spark.lakeloom.test.a"] == "first"
