"""Name parsing and the catalog's Spark settings (no Spark needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakeloom.catalog import (
    CATALOG_PLUGIN_CLASS,
    InvalidNameError,
    catalog_spark_conf,
    format_name,
    merge_conf,
    parse_name,
    qualify,
    split_qualified,
)
from lakeloom.catalog.names import validate_catalog_name
from lakeloom.config import Workspace


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("orders", ("orders",)),
        ("Sales.Orders", ("sales", "orders")),
        ("main.sales.orders", ("main", "sales", "orders")),
        ("main.`sales data`.`a.b`", ("main", "sales data", "a.b")),
        ("`we``ird`", ("we`ird",)),
        (" main . sales ", ("main", "sales")),
    ],
)
def test_parse_name(name: str, parts: tuple[str, ...]) -> None:
    assert parse_name(name) == parts


@pytest.mark.parametrize("bad", ["", "a..b", "`open", "a.", "``"])
def test_parse_name_rejects(bad: str) -> None:
    with pytest.raises(InvalidNameError):
        parse_name(bad)


def test_qualify_against_current_catalog_and_schema() -> None:
    assert qualify("orders") == "main.default.orders"
    assert qualify("orders", "dev", "sales") == "dev.sales.orders"
    assert qualify("sales.orders", "dev", "x") == "dev.sales.orders"
    assert qualify("prod.sales.orders", "dev", "x") == "prod.sales.orders"
    assert qualify("`my table`", "main", "s") == "main.s.`my table`"
    assert split_qualified("S.T", "Main", "x") == ("main", "s", "t")
    with pytest.raises(InvalidNameError, match="4 parts"):
        qualify("a.b.c.d")


def test_format_name_round_trips() -> None:
    for parts in [("main", "s", "t"), ("main", "sales data", "a.b"), ("c", "s", "we`ird"), ("c", "s", "123")]:
        assert parse_name(format_name(parts)) == parts


def test_catalog_names_are_validated_naming_the_field() -> None:
    assert validate_catalog_name("dev_2") == "dev_2"
    for bad in ["Dev", "2dev", "spark_catalog", "a-b"]:
        with pytest.raises(InvalidNameError, match="catalog.catalogs"):
            validate_catalog_name(bad)


def test_catalog_spark_conf_registers_every_catalog(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"catalog": {"catalogs": ["main", "dev"], "default_schema": "sales"}})
    conf = catalog_spark_conf(ws, build=False)
    assert conf["spark.sql.defaultCatalog"] == "main"
    assert conf["spark.sql.catalog.main"] == conf["spark.sql.catalog.dev"] == CATALOG_PLUGIN_CLASS
    assert conf["spark.sql.catalog.main.store"] == str(ws.catalog_dir.resolve())
    assert conf["spark.sql.catalog.dev.warehouse"] == ws.warehouse_dir.resolve().as_uri()
    assert conf["spark.sql.catalog.main.default-schema"] == "sales"
    assert conf["spark.sql.catalog.dev.default-schema"] == "default"
    assert conf["spark.sql.extensions"].split(",") == [
        "io.delta.sql.DeltaSparkSessionExtension", "io.lakeloom.catalog.LakeloomSparkExtensions"]
    assert conf["spark.jars"].endswith(".jar")


def test_bad_catalog_name_in_config_fails_before_spark(tmp_path: Path) -> None:
    ws = Workspace(root=tmp_path, settings={"catalog": {"catalogs": ["Main-Prod"]}})
    with pytest.raises(InvalidNameError, match="catalog.catalogs: invalid catalog name 'Main-Prod'"):
        catalog_spark_conf(ws, build=False)


def test_merge_conf_unions_list_settings_and_overrides_the_rest() -> None:
    merged = merge_conf(
        {"spark.jars": "a.jar,b.jar", "spark.sql.shuffle.partitions": "4"},
        {"spark.jars": "b.jar,c.jar", "spark.sql.shuffle.partitions": "8"},
    )
    assert merged == {"spark.jars": "a.jar,b.jar,c.jar", "spark.sql.shuffle.partitions": "8"}
    # The driver class path (lakeloom's file systems) is a ':' list: a user's entry adds to it.
    merged = merge_conf({"spark.driver.extraClassPath": "/x/fs.jar"}, {"spark.driver.extraClassPath": "/y/a.jar"})
    assert merged == {"spark.driver.extraClassPath": "/x/fs.jar:/y/a.jar"}
