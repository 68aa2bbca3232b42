"""Built-in plugin: ``for_each_task: {inputs, task, concurrency}``.

Each input runs the nested task as its own iteration (with its own retries), at most
``concurrency`` at a time; the for-each task fails if any iteration fails.
"""
from __future__ import annotations

import json
import threading
from typing import Any

from pydantic import Field, field_validator

from lakeloom.hookspecs import hookimpl
from lakeloom.plugin_api import TaskCancelled, TaskContext, TaskFailed, TaskOutput, TaskType
from lakeloom.spec.models import Strict, Task

MAX_ITERATIONS = 5000


class ForEachTask(Strict):
    inputs: str
    task: Task
    concurrency: int = Field(default=1, ge=1, le=100)

    @field_validator("inputs", mode="before")
    @classmethod
    def _json_inputs(cls, v: Any) -> Any:
        return json.dumps(v) if isinstance(v, list) else v


def parse_inputs(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"for_each_task.inputs must be a JSON array; got {text[:200]!r} ({e.msg})") from None
    if not isinstance(value, list):
        raise ValueError(f"for_each_task.inputs must be a JSON array; got {type(value).__name__}")
    if len(value) > MAX_ITERATIONS:
        raise ValueError(f"for_each_task.inputs has {len(value)} items; the limit is {MAX_ITERATIONS}")
    return value


def _run(ctx: TaskContext, settings: ForEachTask) -> TaskOutput:
    # Only `inputs` is resolved here: the nested task's references ({{input}}) resolve per iteration.
    inputs = parse_inputs(ctx.resolve(settings.inputs))
    results: list[dict[str, Any] | None] = [None] * len(inputs)
    next_index = iter(range(len(inputs)))
    lock = threading.Lock()

    def worker() -> None:
        while not ctx.cancel_event.is_set():
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            results[i] = ctx.services.run_nested_task(ctx, settings.task, input_value=inputs[i], iteration=i)

    threads = [threading.Thread(target=worker, name=f"for-each-{ctx.task_key}-{n}", daemon=True)
               for n in range(min(settings.concurrency, max(1, len(inputs))))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.1)
    if ctx.cancel_event.is_set():
        raise TaskCancelled(f"for_each task {ctx.task_key!r} was cancelled")
    states = [r["result_state"] if r else "CANCELED" for r in results]
    stats = {"task_run_stats": {
        "total_iterations": len(inputs),
        "succeeded_iterations": states.count("SUCCESS"),
        "failed_iterations": sum(s in ("FAILED", "TIMEDOUT") for s in states),
        "cancelled_iterations": sum(s in ("CANCELED", "UPSTREAM_CANCELED") for s in states),
        "completed_iterations": len([r for r in results if r]),
    }}
    iterations = [{"index": i, "input": inputs[i], "result_state": states[i],
                   "task_run_id": r["task_run_id"] if r else None, "attempts": r["attempts"] if r else 0}
                  for i, r in enumerate(results)]
    for it in iterations:
        print(f"iteration {it['index']} input={json.dumps(it['input'])} -> {it['result_state']}")
    output = {"for_each_task": {"stats": stats, "iterations": iterations}}
    bad = [it for it in iterations if it["result_state"] != "SUCCESS"]
    if bad:
        raise TaskFailed(f"{len(bad)} of {len(inputs)} iteration(s) failed: "
                         + ", ".join(f"#{it['index']} {it['result_state']}" for it in bad[:10]),
                         TaskOutput(output=output))
    return TaskOutput(output=output)


@hookimpl
def lakeloom_task_types() -> list[TaskType]:
    return [TaskType("for_each_task", ForEachTask, _run, resolve_references=False,
                     description="run a nested task once per input")]
