"""Small bundles written for the bundle tests, and a helper that writes them."""
from __future__ import annotations

import textwrap
from pathlib import Path


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> YAML text, dedented) under ``root``; returns ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


ROOT_FILE = """
bundle:
  name: shop
  databricks_cli_version: ">= 0.230.0"

include:
  - resources/*.yml
  - resources/more/*.yaml

variables:
  catalog:
    description: The catalog to use
    default: main
  schema:
    default: ${workspace.current_user.short_name}_shop
  cluster_conf:
    type: complex
    default:
      spark_version: 15.4.x-scala2.12
      num_workers: 1
  warehouse:
    lookup:
      warehouse: Shared Warehouse
    default: local-warehouse
  label:
    description: set on the command line or environment

targets:
  dev:
    default: true
    mode: development
    variables:
      catalog: dev
  prod:
    workspace:
      root_path: /Workspace/Users/ops@example.com/.bundle/${bundle.name}/${bundle.target}
    variables:
      schema: shop
    resources:
      jobs:
        nightly:
          schedule:
            quartz_cron_expression: "0 0 3 * * ?"
            timezone_id: UTC
          tasks:
            - task_key: load
              spark_python_task:
                parameters: ["--mode", "prod"]
"""

JOB_FILE = """
resources:
  jobs:
    nightly:
      name: nightly-${bundle.target}
      parameters:
        - name: catalog
          default: ${var.catalog}
        - name: label
          default: ${var.label}
      schedule:
        quartz_cron_expression: "0 0 1 * * ?"
        timezone_id: UTC
      tasks:
        - task_key: load
          spark_python_task:
            python_file: ../src/load.py
            parameters: ["--schema", "${var.schema}", "--workers", "${var.cluster_conf.num_workers}"]
        - task_key: report
          depends_on: [{task_key: load}]
          notebook_task:
            notebook_path: ../src/report.py
            base_parameters:
              where: ${resources.schemas.shop_schema.id}
              volume: /Volumes/${resources.volumes.landing.catalog_name}/${resources.volumes.landing.schema_name}/${resources.volumes.landing.name}
"""

CATALOG_FILE = """
resources:
  schemas:
    shop_schema:
      name: ${var.schema}
      catalog_name: ${var.catalog}
  volumes:
    landing:
      name: landing
      catalog_name: ${var.catalog}
      schema_name: ${resources.schemas.shop_schema.name}
"""
