"""Settings of the ML task types and their static checks (no mlflow, no JVM)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lakeloom.plugins.ml.uc_rules import THREE_LEVEL
from lakeloom.spec.models import Strict
from lakeloom.plugin_api import SpecIssue

_MODEL_NAME_HELP = "a Unity Catalog name catalog.schema.model"


def _check_model_name(v: str | None) -> str | None:
    if v is not None and not THREE_LEVEL.match(v):
        raise ValueError(f"{v!r} is not {_MODEL_NAME_HELP}")
    return v


class Promotion(Strict):
    """``promotion``: move ``alias`` to the new version when ``metric`` beats the alias holder's
    by more than ``min_delta`` (in the direction of ``goal``); the first version always gets it."""

    metric: str = Field(min_length=1)
    goal: Literal["maximize", "minimize"] = "maximize"
    alias: str = Field(default="champion", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    min_delta: float = Field(default=0.0, ge=0)


class MlTrainingTask(Strict):
    """``ml_training_task``: exactly one of ``function``, ``python_file`` or ``notebook_path``."""

    function: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    python_file: str | None = None
    notebook_path: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    #: Experiment name, e.g. a workspace path ``/Users/me@x.com/churn``; default: the job's name.
    experiment: str | None = None
    registered_model: str | None = None
    promotion: Promotion | None = None
    autolog: bool = True

    @field_validator("registered_model")
    @classmethod
    def _uc_name(cls, v: str | None) -> str | None:
        return _check_model_name(v)

    @model_validator(mode="after")
    def _one_source(self) -> MlTrainingTask:
        given = [k for k in ("function", "python_file", "notebook_path") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("ml_training_task needs exactly one of function, python_file or notebook_path"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.promotion is not None and self.registered_model is None:
            raise ValueError("promotion needs registered_model (the model whose alias it moves)")
        return self

    @property
    def source_field(self) -> str:
        return next(k for k in ("function", "python_file", "notebook_path") if getattr(self, k))


class ModelInferenceTask(Strict):
    """``model_inference_task``: score ``input_table`` with ``model`` into ``output_table``."""

    model: str = Field(pattern=r"^(models|runs):/.+")
    input_table: str = Field(min_length=1)
    output_table: str = Field(min_length=1)
    mode: Literal["overwrite", "append", "merge"] = "overwrite"
    merge_keys: list[str] = Field(default_factory=list)
    result_column: str = Field(default="prediction", min_length=1)
    #: Input columns handed to the model (default: the model signature's inputs, else all).
    feature_columns: list[str] | None = None
    #: Spark type of the result (``mlflow.pyfunc.spark_udf``'s ``result_type``).
    result_type: str = "double"

    @model_validator(mode="after")
    def _merge_needs_keys(self) -> ModelInferenceTask:
        if self.mode == "merge" and not self.merge_keys:
            raise ValueError("mode merge needs merge_keys (the columns matching input rows to output rows)")
        if self.mode != "merge" and self.merge_keys:
            raise ValueError("merge_keys only apply to mode merge")
        return self

    @field_validator("model")
    @classmethod
    def _uc_model_uri(cls, v: str) -> str:
        if v.startswith("models:/") and not v.startswith("models:/m-"):
            name = v.removeprefix("models:/").split("@", 1)[0].split("/", 1)[0]
            if not THREE_LEVEL.match(name):
                raise ValueError(f"model {v!r}: {name!r} is not {_MODEL_NAME_HELP} "
                                 "(use models:/catalog.schema.model@alias or models:/catalog.schema.model/<version>)")
        return v


def _file(base_dir: Path, text: str) -> Path:
    p = Path(text.removeprefix("file:"))
    return p if p.is_absolute() else (base_dir / p).resolve()


def validate_training(settings: Any, base_dir: Path) -> list[SpecIssue]:
    """Static check: the file or notebook exists (functions are imported only at run time)."""
    if not isinstance(settings, MlTrainingTask):
        settings = MlTrainingTask.model_validate(settings)
    if settings.python_file and not _file(base_dir, settings.python_file).exists():
        return [SpecIssue("python_file", f"file not found: {_file(base_dir, settings.python_file)}")]
    if settings.notebook_path:
        from lakeloom.runtime.dbutils.notebook import resolve_notebook_path

        try:
            resolve_notebook_path(settings.notebook_path, base_dir)
        except Exception as e:  # noqa: BLE001 - reported as a validation issue
            return [SpecIssue("notebook_path", str(e))]
    return []

