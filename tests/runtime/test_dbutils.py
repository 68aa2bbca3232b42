"""dbutils outside and inside tasks: widgets, taskValues, fs, secrets, notebook, proxies, shim."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from lakeloom.config import Workspace
from lakeloom.plugin_api import TaskContext, TaskValues
from lakeloom.plugin_api.context import activate
from lakeloom.runtime.dbutils import (
    FileInfo, InputWidgetNotDefined, SecretNotFound, dbutils, install_runtime_shims, sc, spark)
from lakeloom.runtime.dbutils.notebook import EXIT_VALUE_KEY
from lakeloom.runtime.dbutils.widgets import reset_widgets


class Store:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}

    def set(self, task_key: str, key: str, value: Any) -> None:
        self.values[(task_key, key)] = value

    def get(self, task_key: str, key: str) -> Any:
        return self.values[(task_key, key)]


def ctx_for(ws: Workspace, key: str = "t", *, params: dict[str, str] | None = None, store: Store | None = None,
            session: Any = None) -> TaskContext:
    return TaskContext(
        run_id=1, job_id=1, job_name="j", task_key=key, task_run_id=1, attempt_number=0, execution_count=1,
        parameters=dict(params or {}), job_parameters={}, task_values=TaskValues(store or Store(), key),
        logger=logging.getLogger("t"), workspace=ws, base_dir=ws.root / "jobs", cancel_event=threading.Event(),
        spark_provider=lambda: session, resolver=lambda s: s, services=None)  # type: ignore[arg-type]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(root=tmp_path)


def test_task_values_outside_a_run_follow_the_sdk() -> None:
    assert dbutils.jobs.taskValues.get("up", "k", debugValue="debug") == "debug"
    with pytest.raises(TypeError, match="Must pass debugValue"):
        dbutils.jobs.taskValues.get("up", "k", default=3)
    dbutils.jobs.taskValues.set("k", {"json": True})  # a no-op, but checks the value
    with pytest.raises(TypeError):
        dbutils.jobs.taskValues.set("k", object())


def test_task_values_in_a_run(ws: Workspace) -> None:
    store = Store()
    with activate(ctx_for(ws, "up", store=store)):
        dbutils.jobs.taskValues.set("n", 5)
        with pytest.raises(ValueError, match="48 KiB"):
            dbutils.jobs.taskValues.set("big", "x" * 50_000)
    with activate(ctx_for(ws, "down", store=store)):
        assert dbutils.jobs.taskValues.get("up", "n", debugValue="ignored in a run") == 5
        assert dbutils.jobs.taskValues.get("up", "missing", default=7) == 7
        with pytest.raises(ValueError, match="no task value 'missing' was set by task 'up'"):
            dbutils.jobs.taskValues.get("up", "missing")


def test_widgets_in_and_out_of_tasks_are_separate(ws: Workspace) -> None:
    dbutils.widgets.removeAll()
    dbutils.widgets.text("local_only", "d")
    assert dbutils.widgets.get("local_only") == "d"
    with activate(ctx_for(ws, params={"p": "passed"})):
        with pytest.raises(InputWidgetNotDefined, match="No input widget named local_only is defined"):
            dbutils.widgets.get("local_only")
        dbutils.widgets.dropdown("p", "a", ["a", "b"])
        dbutils.widgets.multiselect("m", "x,y", ["x", "y", "z"])
        dbutils.widgets.combobox("c", "free", ["a"])
        assert dbutils.widgets.get("p") == "passed"  # passed values beat defaults
        assert dbutils.widgets.getAll() == {"p": "passed", "m": "x,y", "c": "free"}
        assert dbutils.widgets.getArgument("nope", "fallback") == "fallback"
        dbutils.widgets.remove("m")
        with pytest.raises(InputWidgetNotDefined):
            dbutils.widgets.get("m")
        with pytest.raises(ValueError, match="not one of the choices"):
            dbutils.widgets.dropdown("bad", "z", ["a"])
    dbutils.widgets.removeAll()


def test_parallel_tasks_see_their_own_widgets(ws: Workspace) -> None:
    seen: dict[str, str] = {}
    barrier = threading.Barrier(4)

    def task(v: str) -> None:
        ctx = ctx_for(ws, f"t{v}")
        reset_widgets(ctx, {"v": v})
        with activate(ctx):
            barrier.wait()
            seen[v] = dbutils.widgets.get("v")

    threads = [threading.Thread(target=task, args=(str(i),)) for i in range(4)]
    [t.start() for t in threads]
    [t.join(10) for t in threads]
    assert seen == {str(i): str(i) for i in range(4)}


@pytest.mark.spark
def test_fs_maps_dbfs_volumes_and_local_paths(spark, spark_workspace: Workspace, tmp_path: Path) -> None:  # noqa: ANN001
    ws = spark_workspace
    spark.sql("CREATE SCHEMA IF NOT EXISTS main.dbutils_fs")
    spark.sql("CREATE VOLUME IF NOT EXISTS main.dbutils_fs.landing")
    with activate(ctx_for(ws)):
        assert dbutils.fs.mkdirs("dbfs:/data/in")
        assert dbutils.fs.put("dbfs:/data/in/a.csv", "x,y\n1,2\n")
        with pytest.raises(FileExistsError):
            dbutils.fs.put("dbfs:/data/in/a.csv", "again")
        assert (ws.dbfs_root / "data" / "in" / "a.csv").read_text() == "x,y\n1,2\n"
        assert dbutils.fs.head("/dbfs/data/in/a.csv", 3) == "x,y"
        listing = dbutils.fs.ls("dbfs:/data")
        assert [(f.path, f.name, f.size) for f in listing] == [("dbfs:/data/in/", "in/", 0)]
        assert listing[0].isDir() and isinstance(listing[0], FileInfo) and listing[0].modificationTime > 0
        assert dbutils.fs.cp("dbfs:/data/in", "/Volumes/main/dbutils_fs/landing/in", recurse=True)
        assert (ws.volumes_root / "main" / "dbutils_fs" / "landing" / "in" / "a.csv").exists()
        f = dbutils.fs.ls("/Volumes/main/dbutils_fs/landing/in/a.csv")[0]
        assert (f.path, f.name, f.size) == ("/Volumes/main/dbutils_fs/landing/in/a.csv", "a.csv", 8)
        assert [v.name for v in dbutils.fs.ls("/Volumes/main/dbutils_fs")] == ["landing/"]
        local = tmp_path / "local.txt"
        assert dbutils.fs.mv("dbfs:/data/in/a.csv", f"file:{local}")
        assert local.read_text() == "x,y\n1,2\n" and not (ws.dbfs_root / "data" / "in" / "a.csv").exists()
        dbutils.fs.put("rel/x.txt", "relative to the job folder")
        assert (ws.root / "jobs" / "rel" / "x.txt").exists()
        with pytest.raises(IsADirectoryError):
            dbutils.fs.rm("/Volumes/main/dbutils_fs/landing/in")
        assert dbutils.fs.rm("/Volumes/main/dbutils_fs/landing/in", recurse=True)
        assert dbutils.fs.rm("dbfs:/nothing/here") is False
        with pytest.raises(FileNotFoundError, match="dbfs:/missing does not exist"):
            dbutils.fs.ls("dbfs:/missing")
        with pytest.raises(ValueError, match="is not inside a volume"):
            dbutils.fs.mkdirs("/Volumes/main/dbutils_fs")
        with pytest.raises(ValueError, match="not supported locally"):
            dbutils.fs.ls("s3://bucket/x")
    spark.sql("DROP SCHEMA main.dbutils_fs CASCADE")


def test_secrets_from_env_and_file_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text("warehouse:\n  user: alice\n  password: from-file\nshared:\n  token: t0k\n")
    ws = Workspace(root=tmp_path / "ws", settings={"secrets": {"file": str(secrets_file)}})
    monkeypatch.setenv("LAKELOOM_SECRET_WAREHOUSE__PASSWORD", "from-env")
    monkeypatch.setenv("LAKELOOM_SECRET_MY_API__API_KEY", "k-123")
    ctx = ctx_for(ws)
    with activate(ctx):
        assert dbutils.secrets.get("warehouse", "password") == "from-env"  # env wins
        assert dbutils.secrets.get("warehouse", "user") == "alice"
        assert dbutils.secrets.getBytes("my-api", "api.key") == b"k-123"
        assert [s.name for s in dbutils.secrets.listScopes()] == ["my_api", "shared", "warehouse"]
        assert [m.key for m in dbutils.secrets.list("warehouse")] == ["password", "user"]
        with pytest.raises(SecretNotFound, match="Secret does not exist with scope: shared and key: nope"):
            dbutils.secrets.get("shared", "nope")
        with pytest.raises(SecretNotFound, match="LAKELOOM_SECRET_NO_SCOPE__K"):
            dbutils.secrets.get("no-scope", "k")
    assert ctx.redactions == {"from-env", "alice", "k-123"}
    assert ctx.redact("user alice used k-123") == "user [REDACTED] used [REDACTED]"


def test_notebook_exit_outside_a_notebook_records_the_value(ws: Workspace) -> None:
    ctx = ctx_for(ws)
    with activate(ctx):
        assert dbutils.notebook.exit({"a": 1}) is None
    assert ctx.stash[EXIT_VALUE_KEY] == "{'a': 1}"
    with pytest.raises(RuntimeError, match="needs a running lakeloom task"):
        dbutils.notebook.run("x", 1)


def test_spark_proxy_resolves_the_current_task(ws: Workspace) -> None:
    a, b = [1, 2], {"b": 1}
    with activate(ctx_for(ws, session=a)):
        assert spark == a and spark.__class__ is list and spark.count(2) == 1
        with activate(ctx_for(ws, session=b)):
            assert spark.__class__ is dict and spark.get("b") == 1
    with activate(ctx_for(ws, session=type("S", (), {"sparkContext": "the-sc"})())):
        assert sc.upper() == "THE-SC"


def test_shim_makes_the_sdk_return_lakeloom_objects_in_a_fresh_interpreter(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "try:\n"
        "    import databricks.sdk.runtime\n"  # without the shim (and credentials) the SDK cannot build dbutils
        "    raise SystemExit('imported without the shim')\n"
        "except ValueError:\n"
        "    pass\n"
        "from lakeloom.runtime.dbutils import install_runtime_shims, dbutils as ours\n"
        "p1 = install_runtime_shims(); p2 = install_runtime_shims()\n"
        "assert p1 == p2 and sys.path.count(str(p1)) == 1\n"
        "from databricks.sdk.runtime import dbutils, spark, display, getArgument\n"
        "import databricks.sdk.runtime as rt\n"
        "assert dbutils is ours and not rt.is_local_implementation\n"
        "assert dbutils.jobs.taskValues.get('a', 'b', debugValue=1) == 1\n"
        "from databricks.sdk import WorkspaceClient\n"
        "print('OK', type(spark).__name__)\n"
    )
    from lakeloom.runtime.shims import SHIM_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    # an earlier install in this process exported the shim to children: start without it
    env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if p and p != str(SHIM_DIR))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK LazyProxy"
    assert install_runtime_shims().name == "_site"
    assert str(SHIM_DIR) in os.environ["PYTHONPATH"].split(os.pathsep)  # inherited by child processes
