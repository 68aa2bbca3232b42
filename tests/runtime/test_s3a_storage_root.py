"""``storage.root: s3a://...`` against a real S3 API server on 127.0.0.1 (moto's, path-style,
fake credentials): a job's managed Delta tables, a MERGE included, land in the bucket through
Hadoop's S3A connector, whose jars are added only when such a root is configured."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeloom.config import Workspace
from lakeloom.runtime.cluster_conf import STORAGE_CONNECTORS, storage_connector_conf
from lakeloom.runtime.standalone import free_port

LAKELOOM = str(Path(sys.executable).with_name("lakeloom"))
BUCKET = "lake"

TASKS = '''
from lakeloom import context


def write_and_merge() -> dict:
    spark = context().spark
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.lake")
    spark.sql("CREATE OR REPLACE TABLE main.lake.orders AS SELECT id AS order_id, id * 10 AS amount FROM range(100)")
    spark.sql("""
        MERGE INTO main.lake.orders t USING (SELECT id AS order_id, id AS amount FROM range(50, 150)) s
        ON t.order_id = s.order_id
        WHEN MATCHED THEN UPDATE SET t.amount = s.amount
        WHEN NOT MATCHED THEN INSERT (order_id, amount) VALUES (s.order_id, s.amount)
    """)
    row = spark.sql("SELECT count(*) AS n, sum(amount) AS total FROM main.lake.orders").first()
    location = spark.sql("DESCRIBE DETAIL main.lake.orders").first()["location"]
    print(f"ROWS={row.n} TOTAL={row.total} LOCATION={location}")
    return {"rows": row.n}
'''


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with one empty bucket."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def _client(endpoint: str):  # noqa: ANN202 - boto3 is imported lazily
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1")


def test_the_s3a_connector_is_added_only_for_an_s3a_root(tmp_path: Path) -> None:
    assert storage_connector_conf(Workspace(root=tmp_path)) == {}
    assert storage_connector_conf(Workspace(root=tmp_path, settings={"storage": {"root": str(tmp_path)}})) == {}
    jars = storage_connector_conf(Workspace(root=tmp_path, settings={"storage": {"root": "s3a://b/x"}}))["spark.jars"]
    names = [Path(j).name for j in jars.split(",")]
    assert len(names) == len(STORAGE_CONNECTORS["s3a"]) and all(Path(j).is_file() for j in jars.split(","))
    assert "hadoop-aws-3.5.0.jar" in names and "s3-2.35.4.jar" in names
    # The SDK's ~600 MB bundle is replaced by its modules; nothing pyspark already ships is added.
    assert not [n for n in names if n.startswith(("bundle-", "netty-4", "netty-codec", "httpclient-", "slf4j-"))]


@pytest.mark.spark
@pytest.mark.timeout(900)
def test_a_job_writes_and_merges_managed_tables_on_an_s3a_root(tmp_path: Path, s3_endpoint: str) -> None:
    ws = tmp_path / "ws"
    (ws / "conf").mkdir(parents=True)
    (ws / "conf" / "lakeloom.yml").write_text(textwrap.dedent(f"""
        storage: {{root: "s3a://{BUCKET}/team"}}
        spark:
          master: "local[1]"
          conf:
            spark.hadoop.fs.s3a.endpoint: "{s3_endpoint}"
            spark.hadoop.fs.s3a.endpoint.region: us-east-1
            spark.hadoop.fs.s3a.path.style.access: "true"
            spark.hadoop.fs.s3a.connection.ssl.enabled: "false"
            spark.hadoop.fs.s3a.aws.credentials.provider: org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider
            spark.hadoop.fs.s3a.access.key: testing
            spark.hadoop.fs.s3a.secret.key: testing
        """))
    (ws / "s3_tasks.py").write_text(TASKS)
    (ws / "job.yml").write_text("name: on-s3a\ntasks:\n  - {task_key: merge, python_task: "
                                "{function: \"s3_tasks:write_and_merge\"}}\n")
    proc = subprocess.run([LAKELOOM, "--workspace", str(ws), "run", "job.yml", "--json"], cwd=ws, text=True,
                          capture_output=True, timeout=900, env={**os.environ, "LAKELOOM_DAEMON": "0"})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    run = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    log = (ws / ".lakeloom" / "logs" / str(run["run_id"]) / "merge" / "0.log").read_text()
    # 100 rows, 50 of them updated (amount = id), 50 inserted.
    assert f"ROWS=150 TOTAL={sum(range(50)) * 10 + sum(range(50, 150))}" in log, log[-2000:]
    assert f"LOCATION=s3a://{BUCKET}/team/warehouse/" in log, log[-2000:]
    keys = [o["Key"] for o in _client(s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix="team/warehouse/")["Contents"]]
    commits = [k for k in keys if "/_delta_log/" in k and k.endswith(".json")]
    assert len(commits) >= 2, keys  # the CREATE and the MERGE, as objects in the bucket
    assert any(k.endswith(".parquet") for k in keys), keys
    # Nothing of the table was written to the local disk.
    assert not list((ws / ".lakeloom").glob("**/_delta_log"))
