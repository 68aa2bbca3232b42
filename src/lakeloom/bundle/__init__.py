"""Databricks Asset Bundles (``databricks.yml``) resolved into lakeloom jobs and pipelines.

``load_bundle(folder, target=..., variables=...)`` reads a bundle the way the Databricks CLI
does and returns a :class:`Bundle` whose ``jobs`` and ``pipelines`` are ready to run. No JVM.
"""
from __future__ import annotations

from lakeloom.bundle.bundle import Bundle, load_bundle
from lakeloom.bundle.loader import ROOT_FILE_NAMES, find_root_file

__all__ = ["Bundle", "load_bundle", "ROOT_FILE_NAMES", "find_root_file"]
