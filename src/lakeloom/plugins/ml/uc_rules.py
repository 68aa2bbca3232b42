"""Unity Catalog's model-registry rules over the local registry (``databricks-uc``).

The rules and their error texts follow MLflow's Unity Catalog REST store, which is what
Databricks users see: models have three-level names (``catalog.schema.model``), a version
needs a model signature with inputs and outputs, and stages are replaced by aliases
(``transition_model_version_stage`` and ``get_latest_versions`` are unsupported).
"""
from __future__ import annotations

import re
from typing import Any, Callable

_PART = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
THREE_LEVEL = re.compile(rf"^{_PART}\.{_PART}\.{_PART}$")

SIGNATURE_EXPLANATION = (
    "All models in the Unity Catalog must be logged with a model signature containing both input "
    "and output type specifications. See "
    "https://mlflow.org/docs/latest/model/signatures.html#how-to-log-models-with-signatures"
    " for details on how to log a model with a signature")

ALIAS_HINT = (
    "We recommend using aliases instead of stages for more flexible model deployment management. "
    "You can set an alias on a registered model using "
    "`MlflowClient().set_registered_model_alias(name, alias, version)` and load a model version by "
    "alias using the URI 'models:/your_model_name@your_alias', e.g. "
    "`mlflow.pyfunc.load_model('models:/your_model_name@your_alias')`.")


def _error(message: str, code: str = "INVALID_PARAMETER_VALUE") -> Exception:
    from mlflow.exceptions import MlflowException

    return MlflowException(message, error_code=code)


def _unsupported(method: str, message: str) -> Exception:
    return _error(f"Method '{method}' is unsupported for models in the Unity Catalog. {message}")


def check_model_name(name: str) -> None:
    """Raise unless ``name`` is a three-level Unity Catalog name."""
    if not isinstance(name, str) or not THREE_LEVEL.match(name):
        raise _error(
            f"Invalid registered model name '{name}': models in the Unity Catalog must specify all three "
            "levels (catalog.schema.model). If you are trying to use the legacy Workspace Model Registry, "
            "instead of the recommended Unity Catalog Model Registry, set the Model Registry URI to "
            "'databricks' (legacy) instead of 'databricks-uc' (recommended).")


def signature_problem(model_uri_or_path: str) -> str | None:
    """The Unity Catalog error text for a model without a full signature, or None if it has one."""
    from mlflow.models import Model

    model = Model.load(model_uri_or_path)
    if model.signature is None:
        return f"Model passed for registration did not contain any signature metadata. {SIGNATURE_EXPLANATION}"
    if model.signature.outputs is None:
        return ("Model passed for registration contained a signature that includes only inputs. "
                f"{SIGNATURE_EXPLANATION}")
    return None


def check_signature(model_uri_or_path: str) -> None:
    problem = signature_problem(model_uri_or_path)
    if problem is not None:
        raise _error(problem)


def uc_shaped(result: Any) -> Any:
    """``result`` as Unity Catalog's REST store returns it: a model or version without a
    description has ``""`` (the protobuf default), not None, so Databricks code that does
    ``description += ...`` after ``if description != ""`` works."""
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

    if isinstance(result, (ModelVersion, RegisteredModel)):
        if result.description is None:
            result._description = ""
        for version in getattr(result, "latest_versions", None) or []:
            uc_shaped(version)
    elif isinstance(result, list):  # search results (PagedList)
        for item in result:
            uc_shaped(item)
    return result


class UnityCatalogRegistry:
    """A model-registry store applying Unity Catalog's rules, backed by ``local()`` (the
    current workspace's SQLite registry). Every other method is the local store's; the models
    and versions they return are shaped as Unity Catalog's (:func:`uc_shaped`)."""

    def __init__(self, local: Callable[[], Any]) -> None:
        self._local = local

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._local(), name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return uc_shaped(attr(*args, **kwargs))

        return call

    def create_registered_model(self, name: str, tags: Any = None, description: str | None = None,
                                deployment_job_id: str | None = None) -> Any:
        check_model_name(name)
        return uc_shaped(self._local().create_registered_model(name, tags, description,
                                                               deployment_job_id=deployment_job_id))

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: Any = None,
                             run_link: str | None = None, description: str | None = None,
                             local_model_path: str | None = None, model_id: str | None = None) -> Any:
        check_model_name(name)
        if run_link is not None:
            raise _error("Argument 'run_link' is unsupported for models in the Unity Catalog.")
        check_signature(local_model_path or source)
        local = self._local()
        try:
            local.get_registered_model(name)
        except Exception:  # Unity Catalog creates the model with its first version
            local.create_registered_model(name)
        return uc_shaped(local.create_model_version(name, source, run_id=run_id, tags=tags, description=description,
                                                    local_model_path=local_model_path, model_id=model_id))

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool = False) -> Any:
        raise _unsupported("transition_model_version_stage", ALIAS_HINT)

    def get_latest_versions(self, name: str, stages: Any = None) -> Any:
        raise _unsupported(
            "get_latest_versions",
            "If you're trying to load a model version by stage, note that stages are not supported in the "
            "Unity Catalog; use aliases instead (models:/your_model_name@your_alias_name).")

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> Any:
        check_model_name(name)
        return self._local().set_registered_model_alias(name, alias, version)
