"""Running notebooks through the notebook_task plugin (no Spark needed here)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from notebook_ctx import DictValueStore, make_ctx, run_in_task

from lakeloom.config import Workspace
from lakeloom.plugins.notebook_task import NotebookTaskSettings, executed_notebook_path, run_notebook_task
from lakeloom.plugins.notebook_task.executor import NotebookCellError

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(root=tmp_path)


def run(ctx, path: str, **base_parameters: str):  # noqa: ANN001, ANN201
    settings = NotebookTaskSettings(notebook_path=path, base_parameters=base_parameters)
    return run_in_task(ctx, run_notebook_task, ctx, settings)


def saved(ctx) -> dict:  # noqa: ANN001
    return json.loads(executed_notebook_path(ctx).read_text())


def test_widgets_parameters_win_over_defaults_and_exit_value(ws: Workspace) -> None:
    store = DictValueStore()
    ctx = make_ctx(ws, base_dir=NOTEBOOKS, parameters={"region": "amer", "extra": "x"}, store=store,
                   task_key="w")
    out = run(ctx, "widgets", region="ignored-base", mode="incremental")
    # ctx.parameters (engine-resolved, job params pushed down) beat base_parameters; declared defaults fill gaps
    assert json.loads(out.output["notebook_output"]["result"]) == {
        "mode": "incremental", "only_default": "kept", "region": "amer"}
    assert out.output["notebook_output"]["truncated"] is False
    assert store.values[("w", "region")] == "amer" and store.values[("w", "row_count")] == 42
    doc = saved(ctx)
    statuses = [c["metadata"]["lakeloom"]["status"] for c in doc["cells"]]
    assert statuses == ["ok", "ok", "ok", "exit", "skipped"]
    assert doc["cells"][1]["cell_type"] == "markdown"
    assert "widgets: {'region': 'amer'" in doc["cells"][2]["outputs"][0]["text"]
    assert out.output["executed_notebook"] == ws.stored_path(executed_notebook_path(ctx))  # relative to the workspace


def test_failing_cell_names_cell_line_first_line_and_traceback(ws: Workspace) -> None:
    ctx = make_ctx(ws, base_dir=NOTEBOOKS)
    with pytest.raises(NotebookCellError) as info:
        run(ctx, "failing.py")
    msg = str(info.value)
    assert f"notebook {NOTEBOOKS / 'failing.py'}, cell 3 (line 12) failed: result = divide(x, 0)  # fails here" in msg
    assert "Traceback (most recent call last)" in msg
    assert f'File "{NOTEBOOKS / "failing.py"}", line 12, in <module>' in msg
    assert "line 8, in divide" in msg and "ZeroDivisionError: division by zero" in msg
    assert "executor.py" not in msg
    doc = saved(ctx)
    cells = doc["cells"]
    assert [c["metadata"]["lakeloom"]["status"] for c in cells] == ["ok", "ok", "error", "skipped"]
    assert cells[0]["outputs"][0]["text"] == "before the failure\n"
    assert cells[2]["outputs"][-1]["ename"] == "ZeroDivisionError"
    assert doc["metadata"]["lakeloom"]["status"] == "FAILED"


def test_percent_run_shares_namespace_and_passes_arguments(ws: Workspace) -> None:
    ctx = make_ctx(ws, base_dir=NOTEBOOKS)
    out = run(ctx, "run_parent.py")
    assert out.output["notebook_output"]["result"] == "HELLO THERE, LAKELOOM!"
    first = saved(ctx)["cells"][0]
    assert first["source"].startswith("%run ./lib/helpers")
    assert "helpers loaded with hello there" in first["outputs"][0]["text"]


def test_percent_run_cycle_is_an_error(ws: Workspace) -> None:
    ctx = make_ctx(ws, base_dir=NOTEBOOKS / "lib")
    with pytest.raises(NotebookCellError, match=r"%run cycle: cycle_a.py -> cycle_b.py -> cycle_a.py"):
        run(ctx, "cycle_a.py")


def test_notebook_run_returns_child_exit_and_honours_timeout(ws: Workspace) -> None:
    ctx = make_ctx(ws, base_dir=NOTEBOOKS)
    out = run(ctx, "caller.ipynb")
    assert out.output["notebook_output"]["result"] == "70|True"
    children = ctx.services.children
    assert [c.task_key for c in children] == ["child", "slow"]
    assert out.child_run_ids == [c.run_id for c in children]
    assert children[0].parameters == {"x": "7"}
    child_doc = json.loads(executed_notebook_path(children[0]).read_text())
    assert "child got 7" in child_doc["cells"][1]["outputs"][0]["text"]


def test_magics_sh_fs_and_last_expression(ws: Workspace) -> None:
    ctx = make_ctx(ws, base_dir=NOTEBOOKS)
    run(ctx, "magics.py")
    assert (ws.dbfs_root / "tmp" / "magics" / "hello.txt").read_text() == "hello dbfs"
    cells = saved(ctx)["cells"]
    assert cells[0]["outputs"][0]["text"] == "from the shell: 42\n"
    listing = cells[3]["outputs"][0]["data"]["text/html"]
    assert "dbfs:/tmp/magics/hello.txt" in listing
    assert cells[4]["outputs"][0]["text"] == "hello dbfs\n"
    assert cells[5]["outputs"][0] == {"output_type": "execute_result", "data": {"text/plain": "42"},
                                      "metadata": {}, "execution_count": 6}


def test_sh_failure_and_conda_are_cell_errors(ws: Workspace) -> None:
    ctx = make_ctx(ws, base_dir=NOTEBOOKS)
    with pytest.raises(NotebookCellError, match=r"cell 1 \(line 2\) failed: # MAGIC %sh[\s\S]*exited with status 3"):
        run(ctx, "sh_fail.py")
    assert "about to fail" in saved(ctx)["cells"][0]["outputs"][0]["text"]
    with pytest.raises(NotebookCellError, match="%conda is not supported .*use %pip install"):
        run(make_ctx(ws, base_dir=NOTEBOOKS), "conda.py")


def test_missing_notebook_names_candidates(ws: Workspace) -> None:
    ctx = make_ctx(ws, base_dir=NOTEBOOKS)
    with pytest.raises(FileNotFoundError, match=r"notebook 'nope' not found \(tried .*nope\.py"):
        run(ctx, "nope")


def test_parallel_notebooks_each_see_their_own_widgets(ws: Workspace, tmp_path: Path) -> None:
    import threading

    nb = tmp_path / "echo.py"
    nb.write_text("# Databricks notebook source\nimport time\nv = dbutils.widgets.get('v')\ntime.sleep(0.2)\n"
                  "# COMMAND ----------\nassert dbutils.widgets.get('v') == v\ndbutils.notebook.exit(v)\n")
    results: dict[str, str] = {}

    def one(v: str) -> None:
        ctx = make_ctx(ws, base_dir=tmp_path, task_key=f"t{v}", parameters={"v": v})
        results[v] = run(ctx, "echo.py").output["notebook_output"]["result"]

    threads = [threading.Thread(target=one, args=(str(i),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {str(i): str(i) for i in range(4)}


def test_validate_reports_syntax_errors_missing_run_targets_and_conda(tmp_path: Path) -> None:
    from lakeloom.plugins.notebook_task import validate_notebook_settings

    shutil.copytree(NOTEBOOKS, tmp_path / "nb")
    bad = tmp_path / "nb" / "bad.py"
    bad.write_text("# Databricks notebook source\nx = 1\n\n# COMMAND ----------\n\ny = (\n\n"
                   "# COMMAND ----------\n\n# MAGIC %sql\n# MAGIC SELEC 1\n\n# COMMAND ----------\n\n"
                   "# MAGIC %run ./missing\n")
    issues = [i.message for i in validate_notebook_settings({"notebook_path": "nb/bad"}, tmp_path)]
    assert any(f"{bad}:6: cell 2: syntax error" in m for m in issues), issues
    assert any(f"{bad}:11:" in m and "syntax error" in m for m in issues), issues
    assert any("%run: notebook './missing' not found" in m for m in issues), issues
    assert validate_notebook_settings({"notebook_path": "nb/widgets.py"}, tmp_path) == []
    assert "cycle" in validate_notebook_settings({"notebook_path": "nb/lib/cycle_a"}, tmp_path)[0].message
    assert "%conda is not supported" in validate_notebook_settings({"notebook_path": "nb/conda"},
                                                                   tmp_path)[0].message


ENV_NOTEBOOK = '''# Databricks notebook source
# DBTITLE 1,Hello from a serverless world
print("hello", spark is not None)

# COMMAND ----------

# MAGIC %environment
# MAGIC "client": "1"
# MAGIC "base_environment": ""
'''


def test_environment_cell_of_a_serverless_export_is_settings_not_code(ws: Workspace, tmp_path: Path) -> None:
    from lakeloom.plugins.notebook_task.checks import check_notebook
    from lakeloom.plugins.notebook_task.parser import environment_dependencies, parse_notebook

    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "Hello - Serverless.py").write_text(ENV_NOTEBOOK)
    assert check_notebook("Hello - Serverless", tmp_path / "nb") == []
    ctx = make_ctx(ws, base_dir=tmp_path / "nb")
    run(ctx, "Hello - Serverless")
    cells = saved(ctx)["cells"]
    assert [c["metadata"]["lakeloom"]["status"] for c in cells] == ["ok", "ok"]
    assert cells[1]["source"].startswith("%environment\n")

    with_deps = tmp_path / "deps.py"
    with_deps.write_text(ENV_NOTEBOOK + '# MAGIC "dependencies":\n# MAGIC   - "pyyaml>=6"\n# MAGIC   - "-e ./lib"\n')
    assert environment_dependencies(parse_notebook(with_deps)) == ["pyyaml>=6", "-e ./lib"]
    bad = tmp_path / "bad.py"
    bad.write_text(ENV_NOTEBOOK + '# MAGIC "dependencies": "pyyaml"\n')
    issues = check_notebook("bad.py", tmp_path)
    assert [i.message for i in issues] == [
        f"{bad}:7: cell 2 (%environment): field 'dependencies' must be a list of pip requirement strings"]
