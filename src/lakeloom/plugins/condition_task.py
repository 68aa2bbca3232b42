"""Built-in plugin: ``condition_task: {op, left, right}``.

EQUAL_TO / NOT_EQUAL compare strings (so "12.0" != "12"); the other operators
compare numerically and fail the task when a side is not a number.
"""
from __future__ import annotations

import operator
from typing import Literal

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskContext, TaskOutput, TaskType
from lakeloom.spec.models import Strict

Op = Literal["EQUAL_TO", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL"]
_NUMERIC = {"GREATER_THAN": operator.gt, "GREATER_THAN_OR_EQUAL": operator.ge,
            "LESS_THAN": operator.lt, "LESS_THAN_OR_EQUAL": operator.le}


class ConditionTask(Strict):
    op: Op
    left: str
    right: str


def evaluate(op: str, left: str, right: str) -> bool:
    if op == "EQUAL_TO":
        return left == right
    if op == "NOT_EQUAL":
        return left != right
    try:
        lnum, rnum = float(left), float(right)
    except ValueError:
        raise ValueError(f"{op} compares numbers; got left={left!r} right={right!r}") from None
    return bool(_NUMERIC[op](lnum, rnum))


def _run(ctx: TaskContext, settings: ConditionTask) -> TaskOutput:
    outcome = "true" if evaluate(settings.op, settings.left, settings.right) else "false"
    print(f"condition {settings.left!r} {settings.op} {settings.right!r} -> {outcome}")
    return TaskOutput(output={"condition_task": {"outcome": outcome}}, condition_outcome=outcome)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    return [TaskType("condition_task", ConditionTask, _run, description="branch on a comparison")]
