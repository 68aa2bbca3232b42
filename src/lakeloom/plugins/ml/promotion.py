"""Register a trained model under Unity Catalog's rules and move its alias by metric."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeloom.plugins.ml.uc_rules import signature_problem

if TYPE_CHECKING:
    from lakeloom.plugins.ml.settings import MlTrainingTask
    from lakeloom.plugin_api import TaskContext


class MlTaskError(Exception):
    """An ML task's input is wrong; the message names the job file, the task and the field."""

    def __init__(self, ctx: TaskContext, field: str, message: str, kind: str = "ml_training_task") -> None:
        super().__init__(f"{job_file(ctx)}: task {ctx.task_key!r}: field '{kind}.{field}': {message}")


def job_file(ctx: TaskContext) -> str:
    """The job file the task came from (as `lakeloom validate` names it)."""
    try:
        stored = ctx.run.store.get_job(ctx.job_id)
    except Exception:  # noqa: BLE001 - a name is only for the message
        stored = None
    return str((stored.source if stored else None) or ctx.base_dir)


@dataclass
class Outcome:
    """What registration and promotion did."""

    registered_model: str | None = None
    version: int | None = None
    alias: str | None = None
    promoted: bool = False
    metric_name: str | None = None
    metric: float | None = None
    previous_version: int | None = None
    previous_metric: float | None = None
    reason: str = ""

    def as_output(self) -> dict[str, Any]:
        return {"registered_model": self.registered_model, "model_version": self.version, "alias": self.alias,
                "promoted": self.promoted, "metric_name": self.metric_name, "metric": self.metric,
                "previous_version": self.previous_version, "previous_metric": self.previous_metric,
                "promotion_reason": self.reason}

    def describe(self) -> str:
        if self.version is None:
            return "no model registered (no registered_model set)"
        text = f"registered {self.registered_model} version {self.version}"
        return f"{text}; {self.reason}" if self.reason else text


def register_and_promote(ctx: TaskContext, client: Any, settings: MlTrainingTask, *, run_id: str,
                         model_uri: str | None) -> Outcome:
    """Register ``model_uri`` as a new version of ``settings.registered_model`` and move the
    promotion alias when its metric beats the holder's by ``min_delta``."""
    promotion = settings.promotion
    outcome = Outcome(registered_model=settings.registered_model)
    if promotion is not None:
        outcome.metric_name = promotion.metric
        outcome.metric = _metric(ctx, client, run_id, promotion.metric)
    if settings.registered_model is None:
        return outcome
    name = settings.registered_model
    assert model_uri is not None
    problem = signature_problem(model_uri)
    if problem is not None:
        raise MlTaskError(ctx, settings.source_field, f"the model logged by MLflow run {run_id} cannot be "
                          f"registered as {name}: {problem}")
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name)
        except MlflowException:  # a parallel task created it
            pass
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    source = client.get_logged_model(model_id).artifact_location if model_id else model_uri
    version = client.create_model_version(name, source, run_id=run_id, model_id=model_id,
                                          tags={"lakeloom.job_run_id": str(ctx.run_id),
                                                "lakeloom.task_key": ctx.task_key})
    outcome.version = int(version.version)
    if promotion is None:
        return outcome
    outcome.alias = promotion.alias
    holder = _alias_holder(client, name, promotion.alias)
    if holder is None:
        outcome.promoted, outcome.reason = True, f"first version with alias @{promotion.alias}: promoted"
    else:
        outcome.previous_version = int(holder.version)
        outcome.previous_metric = _holder_metric(client, holder, promotion.metric)
        outcome.promoted, outcome.reason = _beats(outcome.metric, outcome.previous_metric, promotion.goal,
                                                  promotion.min_delta, promotion.alias, outcome.previous_version)
    if outcome.promoted:
        client.set_registered_model_alias(name, promotion.alias, str(outcome.version))
    return outcome


def _metric(ctx: TaskContext, client: Any, run_id: str, name: str) -> float:
    metrics = client.get_run(run_id).data.metrics
    if name not in metrics:
        logged = ", ".join(sorted(metrics)) or "none"
        raise MlTaskError(ctx, "promotion.metric", f"metric {name!r} was never logged by MLflow run {run_id} "
                          f"(logged: {logged})")
    return float(metrics[name])


def _alias_holder(client: Any, name: str, alias: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _holder_metric(client: Any, holder: Any, metric: str) -> float | None:
    if not holder.run_id:
        return None
    value = client.get_run(holder.run_id).data.metrics.get(metric)
    return None if value is None else float(value)


def _beats(new: float | None, old: float | None, goal: str, min_delta: float, alias: str,
           old_version: int) -> tuple[bool, str]:
    if old is None:
        return True, f"version {old_version} holding @{alias} has no such metric: promoted"
    assert new is not None
    gain = new - old if goal == "maximize" else old - new
    verb = "beats" if gain > min_delta else "does not beat"
    return gain > min_delta, (f"{new:g} {verb} {old:g} of version {old_version} by more than {min_delta:g} "
                              f"({goal}): {'promoted to' if gain > min_delta else 'kept'} @{alias}"
                              + ("" if gain > min_delta else f" on version {old_version}"))
