"""The catalog is shared: a second OS process and concurrent creators see one set of names."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest

from lakeloom.catalog import get_table
from lakeloom.config import Workspace

pytestmark = pytest.mark.spark

CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from lakeloom.config import Workspace
    from lakeloom.runtime.spark import SparkSessionProvider

    ws = Workspace(root=Path(sys.argv[1]), settings=json.loads(sys.argv[2]))
    provider = SparkSessionProvider(ws, app_name="lakeloom-second-process")
    spark = provider.get()
    out = {"owns": provider.owns_session}
    out["rows"] = sorted(r.id for r in spark.table("main.shared.from_parent").collect())
    spark.sql("CREATE TABLE main.shared.from_child AS SELECT 42 AS answer")
    try:
        spark.sql("CREATE TABLE main.shared.from_parent (id INT)")
        out["duplicate_create"] = "succeeded"
    except Exception as e:
        out["duplicate_create"] = str(e)
    provider.stop()
    print("RESULT " + json.dumps(out))
""")


def test_second_process_sees_and_adds_tables_while_the_first_runs(spark, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA main.shared")
    spark.range(3).write.saveAsTable("main.shared.from_parent")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(spark_workspace.root), json.dumps(spark_workspace.settings)],
        capture_output=True, text=True, timeout=600,
    )
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, proc.stderr[-3000:]
    out = json.loads(results[-1].removeprefix("RESULT "))
    assert out["owns"] is True
    assert out["rows"] == [0, 1, 2]
    assert "TABLE_OR_VIEW_ALREADY_EXISTS" in out["duplicate_create"]
    # This (still running) process sees the table the other one created.
    assert spark.table("main.shared.from_child").first().answer == 42
    assert get_table(spark_workspace, "main.shared.from_child") is not None


def test_racing_creates_leave_exactly_one_table(spark, spark_workspace: Workspace) -> None:
    spark.sql("CREATE SCHEMA main.race")
    start = threading.Barrier(2, timeout=60)
    outcomes: list[str] = []

    def create(value: int) -> None:
        start.wait()
        try:
            spark.sql(f"CREATE TABLE main.race.t AS SELECT {value} AS v")
            outcomes.append("created")
        except Exception as e:
            outcomes.append(str(e))

    threads = [threading.Thread(target=create, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(o == "created" for o in outcomes) == [False, True], outcomes
    assert "ALREADY_EXISTS" in next(o for o in outcomes if o != "created")
    entry = get_table(spark_workspace, "main.race.t")
    assert entry is not None and entry.local_path is not None
    # The loser's data is cleaned up: one table directory remains, the registered one.
    assert list(entry.local_path.parent.glob("t-*")) == [entry.local_path]
    assert spark.table("main.race.t").count() == 1
