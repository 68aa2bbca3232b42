"""Services the engine offers to running tasks: for_each iterations and child runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloom.engine import states as st
from lakeloom.engine.coordinator import Coordinator
from lakeloom.plugin_api import ChildRunResult, TaskContext
from lakeloom.spec.models import Job, Task

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine


class EngineServices:
    """``RunServices`` for tasks: for_each iterations and child runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run_nested_task(self, ctx: TaskContext, task: Task, *, input_value: Any, iteration: int) -> dict[str, Any]:
        session = self.engine.active[ctx.run_id].s if ctx.run_id in self.engine.active else None
        if session is None:
            raise RuntimeError(f"run {ctx.run_id} is not driven by this process")
        nested = task.model_copy(update={"depends_on": []})
        coord = Coordinator(session, [nested], max_parallel=1, parent_cancel=ctx.cancel_event, iteration=iteration,
                            parent_task_run_id=ctx.task_run_id, input_value=input_value, has_input=True)
        result = coord.run()[task.task_key]
        ts = coord.state[task.task_key]
        row = session.store.get_task_run(ts.task_run_id) if ts.task_run_id else None
        return {"result_state": result, "task_run_id": ts.task_run_id, "attempts": ts.attempts_made,
                "output": row.output if row else {}, "error": row.state_message if row else ""}

    def run_child_job(self, ctx: TaskContext, job: Job | str | int, parameters: dict[str, str], *,
                      run_type: str = "JOB_RUN", timeout_seconds: int = 0,
                      base_dir: Path | None = None, pushed_down: dict[str, str] | None = None) -> ChildRunResult:
        from lakeloom.engine.prepare import RunTrigger

        parent = self.engine.store.get_run(ctx.run_id)
        prepared = self.engine.prepare(job if not isinstance(job, int) else str(job), params=parameters,
                                       pushed_down=pushed_down,
                                       trigger=RunTrigger("RUN_JOB_TASK", run_type=run_type), parent=ctx,
                                       parent_principal=parent.run_as if parent else None,
                                       timeout_seconds=timeout_seconds or None, base_dir=base_dir or ctx.base_dir)
        final = self.engine.execute(prepared, cancel_event=ctx.cancel_event)
        outputs: dict[str, dict[str, Any]] = {}
        for r in self.engine.store.task_runs(final["run_id"]):
            if r.iteration is None and r.output:
                outputs[r.task_key] = r.output
        return ChildRunResult(final["run_id"], final["state"].get("result_state", st.FAILED),
                              final["state"].get("state_message", ""), outputs)
