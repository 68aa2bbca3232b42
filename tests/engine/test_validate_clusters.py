"""``lakeloom validate`` on job compute: errors and warnings naming file, line, task and field (no JVM)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from lakeloom.config import Workspace
from lakeloom.engine.validate import validate_file
from lakeloom.plugin_manager import build_plugin_manager

JOB = """\
name: clusters
job_clusters:
  - job_cluster_key: etl
    new_cluster:
      spark_version: 15.4.x-scala2.12
      node_type_id: i3.xlarge
      num_workers: 2
      spark_conf: {spark.sql.shuffle.partitions: 8}
      spark_env_vars: {PYSPARK_PYTHON: /databricks/python3/bin/python3}
tasks:
  - task_key: a
    job_cluster_key: etl
    python_task: {function: "m:f"}
  - task_key: b
    job_cluster_key: missing
    python_task: {function: "m:f"}
  - task_key: c
    existing_cluster_id: 0101-abc
    python_task: {function: "m:f"}
  - task_key: d
    new_cluster: {num_workers: 1, node_type_id: small, aws_attributes: {availability: SPOT}}
    python_task: {function: "m:f"}
"""


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_compute_problems_name_the_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "job.yml"
    path.write_text(JOB)
    ws = Workspace(tmp_path, {"spark": {"master": "local[*]"},
                              "compute": {"node_types": {"small": {"cores": 1, "memory": "1g"}}}})
    _, problems = validate_file(path, build_plugin_manager(), ws)
    got = {(p.severity, p.task_key, p.field, p.line) for p in problems}
    assert ("error", "b", "job_cluster_key", _line(JOB, "job_cluster_key: missing")) in got
    assert ("warning", None, "job_clusters[0].new_cluster.spark_version", _line(JOB, "spark_version")) in got
    assert ("warning", None, "job_clusters[0].new_cluster.spark_env_vars.PYSPARK_PYTHON",
            _line(JOB, "spark_env_vars")) in got
    assert ("warning", "c", "existing_cluster_id", _line(JOB, "existing_cluster_id")) in got
    assert ("warning", "d", "new_cluster.aws_attributes", _line(JOB, "aws_attributes")) in got
    # What the workspace's compute makes of a cluster names the field too, once.
    etl_node = [p for p in problems if p.field == "job_clusters[0].new_cluster.node_type_id"]
    assert [(p.line, "'i3.xlarge' is not in compute.node_types" in p.message) for p in etl_node] == \
        [(_line(JOB, "node_type_id: i3.xlarge"), True)]
    d_workers = [p for p in problems if p.task_key == "d" and p.field == "new_cluster.num_workers"]
    assert len(d_workers) == 1 and "num_workers is ignored on local[1]" in d_workers[0].message  # 'small': 1 core
    assert not [p for p in problems if p.field and "spark_conf" in p.field]  # honoured as is


def test_cli_validate_checks_against_the_workspace_compute_without_pyspark(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakeloom.yml").write_text("compute: {clusters: {0101-abc: {master: 'local[1]'}}}\n")
    path = tmp_path / "job.yml"
    path.write_text(JOB.replace("job_cluster_key: missing", "job_cluster_key: etl"))
    code = ("import sys; from click.testing import CliRunner; from lakeloom.cli.main import cli; "
            f"r = CliRunner().invoke(cli, ['--workspace', {str(tmp_path)!r}, 'validate', {str(path)!r}]); "
            "print(r.output); print('exit', r.exit_code, 'pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.rstrip().endswith("exit 0 False"), out  # valid, and no pyspark (so no JVM) for validate
    assert "existing_cluster_id" not in out  # configured in compute.clusters
    assert "new_cluster.spark_version" in out and "warning" in out
    assert "OK (clusters; 4 tasks)" in out


def test_a_task_with_two_kinds_of_compute_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "job.yml"
    path.write_text(textwrap.dedent("""\
        name: j
        job_clusters: [{job_cluster_key: etl, new_cluster: {num_workers: 1}}]
        tasks:
          - task_key: a
            job_cluster_key: etl
            existing_cluster_id: x
            python_task: {function: "m:f"}
        """))
    _, problems = validate_file(path, build_plugin_manager())
    assert any(p.severity == "error" and "at most one of job_cluster_key, new_cluster, existing_cluster_id"
               in p.message for p in problems)


def test_a_bad_compute_config_stops_the_run_before_it_is_recorded(tmp_path: Path) -> None:
    import pytest

    from lakeloom.engine.api import Engine
    from lakeloom.spec.loader import JobSpecError

    path = tmp_path / "job.yml"
    path.write_text(JOB.replace("job_cluster_key: missing", "job_cluster_key: etl"))
    ws = Workspace(tmp_path, {"compute": {"node_types": {"big": {"cores": 0, "memory": "4g"}}}})
    engine = Engine.open(ws)
    try:
        with pytest.raises(JobSpecError) as exc:
            engine.prepare(str(path))
        assert "compute.node_types.big.cores must be a positive integer" in str(exc.value)
        assert engine.store.list_runs() == []
    finally:
        engine.store.close()
