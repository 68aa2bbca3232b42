"""Fixtures of the bundle tests."""
from __future__ import annotations

from pathlib import Path

import pytest
from bundle_files import CATALOG_FILE, JOB_FILE, ROOT_FILE, write


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A bundle with includes in two folders, two targets and variables of every kind."""
    return write(tmp_path / "shop", {
        "databricks.yml": ROOT_FILE,
        "resources/nightly.yml": JOB_FILE,
        "resources/more/catalog.yaml": CATALOG_FILE,
        "src/load.py": "print('load')\n",
        "src/report.py": "# Databricks notebook source\nprint('report')\n",
    })
