"""Parameter values become the strings Databricks passes, the same way at every entry point."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakeloom.pipelines.spec import load_pipeline
from lakeloom.plugins.notebook_task import NotebookTaskSettings
from lakeloom.plugins.run_job_task import RunJobTask
from lakeloom.plugins.sql_task.settings import SqlTaskSettings
from lakeloom.spec.models import JobParameter
from lakeloom.spec.parameters import coerce_param, coerce_param_map, param_string


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (None, ""), (3, "3"), (-7, "-7"), (4.0, "4"), (0.05, "0.05"),
    (1e-07, "0.0000001"), (1e21, "1000000000000000000000"), ("x", "x"), ("", ""),
])
def test_param_string_writes_values_as_the_databricks_cli_does(value: object, text: str) -> None:
    assert param_string(value) == text


def test_coerce_leaves_what_is_not_a_scalar_for_the_model_to_reject() -> None:
    assert coerce_param(None) is None and coerce_param([1]) == [1] and coerce_param(2.5) == "2.5"
    assert coerce_param_map({1: True, "n": None}) == {"1": "true", "n": ""}
    assert coerce_param_map(["not", "a", "map"]) == ["not", "a", "map"]


def test_every_parameter_field_stringifies_alike(tmp_path: Path) -> None:
    raw = {"flag": True, "n": 4.0, "none": None, "text": "a b"}
    expected = {"flag": "true", "n": "4", "none": "", "text": "a b"}
    assert NotebookTaskSettings(notebook_path="nb", base_parameters=raw).base_parameters == expected
    assert SqlTaskSettings(query={"query": "SELECT 1"}, parameters=raw).parameters == expected
    assert RunJobTask(job_id=1, job_parameters=raw).job_parameters == expected
    assert JobParameter(name="p", default=False).default == "false"
    with pytest.raises(ValueError, match="default"):
        JobParameter(name="p", default=None)  # type: ignore[arg-type]
    (tmp_path / "p.pipeline.yml").write_text(yaml.safe_dump(
        {"name": "p", "catalog": "main", "schema": "s", "configuration": raw, "libraries": [{"file": {"path": "a.py"}}]}))
    assert load_pipeline(tmp_path / "p.pipeline.yml").spec.configuration == expected
