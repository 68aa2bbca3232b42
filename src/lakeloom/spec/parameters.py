"""Parameter values as the strings Databricks passes to tasks.

Job files are YAML, so a parameter written ``flag: true`` or ``n: 3`` arrives as a bool or a
number. Databricks' bundle layer turns such values into the text a task sees: ``true`` /
``false`` (never Python's ``True``), integers in decimal. Every place lakeloom turns a value into
a parameter string (job parameter defaults, task parameter maps, pipeline ``configuration``,
``run_job_task.job_parameters``, ``dbutils.widgets`` and ``dbutils.notebook.run`` arguments) goes
through :func:`param_string`.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


def param_string(value: Any) -> str:
    """``value`` as a parameter string: booleans as ``true``/``false``; numbers in plain decimal
    as the Databricks CLI writes them (``4.0`` is ``4``, ``1e-07`` is ``0.0000001``); ``None`` as
    the empty string (a parameter has no null value: the widget or ``{{job.parameters.x}}``
    reads ``""``); anything else with ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    return str(value)


def coerce_param(value: Any) -> Any:
    """A pydantic ``mode="before"`` validator for one string parameter: booleans and numbers
    become :func:`param_string` text; anything else (``None``, lists, mappings) is left for the
    model to reject with its own error."""
    return param_string(value) if isinstance(value, (bool, int, float)) else value


def coerce_param_map(value: Any) -> Any:
    """A pydantic ``mode="before"`` validator for a ``map<string, string>`` of parameters: every
    key and value as :func:`param_string`; a value that is not a mapping is left for the model."""
    if isinstance(value, dict):
        return {str(k): param_string(v) for k, v in value.items()}
    return value
