"""Live progress on stderr while a run executes; Ctrl-C cancels, a second Ctrl-C exits."""
from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Any, Callable

from rich.live import Live

from lakeloom.cli import render, warm

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine


def _drive(engine: Engine, start: Callable[[Callable[[int], None]], dict[str, Any]], quiet: bool) -> dict[str, Any]:
    run_id: list[int] = []
    result: dict[str, Any] = {}
    error: list[BaseException] = []
    done = threading.Event()

    pending_cancel: list[bool] = []

    def created(rid: int) -> None:
        run_id.append(rid)
        if pending_cancel:  # a warm client's Ctrl-C arrived before the run was recorded
            engine.cancel(rid)

    def work() -> None:
        try:
            result.update(start(created))
        except BaseException as e:  # re-raised on the main thread
            error.append(e)
        finally:
            done.set()

    interrupts = [0]

    def on_sigint(_sig: int, _frame: Any) -> None:
        interrupts[0] += 1
        if interrupts[0] > 1 or not run_id:
            render.error_console().print("[red]interrupted twice: exiting now; the run will be marked failed[/red]")
            os._exit(130)
        cancel()

    def cancel() -> None:
        render.error_console().print("[magenta]cancelling the run (Ctrl-C again to exit at once)[/magenta]")
        if run_id:
            engine.cancel(run_id[0])
        else:
            pending_cancel.append(True)

    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if on_main else None
    worker = threading.Thread(target=work, name="lakeloom-run", daemon=True)
    # In a warm driver the client's first Ctrl-C cancels; a second one exits the client itself.
    with warm.on_interrupt(cancel):
        worker.start()
        try:
            console = render.error_console()
            if quiet or not console.is_terminal:
                while not done.wait(0.5):
                    pass
            else:
                with Live(console=console, refresh_per_second=4, transient=True) as live:
                    while not done.wait(0.3):
                        if run_id:
                            live.update(_live_table(engine, run_id[0]))
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    if error:
        raise error[0]
    if not quiet:
        render.summary(result)
    return result


def _live_table(engine: Engine, run_id: int) -> Any:
    from rich.table import Table

    from lakeloom.store.run_shape import run_shape

    run = run_shape(engine.store, run_id) or {"tasks": []}
    t = Table(title=render.plain(f"run {run_id} · {run.get('run_name', '')}"), title_justify="left")
    for c in ("task", "attempt", "state", "duration"):
        t.add_column(c)
    for row in render.task_rows(run):
        t.add_row(*(render.plain(cell) for cell in row[:4]))
    return t


def run_with_progress(engine: Engine, target: str, *, job_key: str | None, params: dict[str, str],
                      only: list[str] | None, quiet: bool) -> dict[str, Any]:
    def start(created: Callable[[int], None]) -> dict[str, Any]:
        prepared = engine.prepare(target, params=params, only=only, job_key=job_key)
        created(prepared.run_id)
        return engine.execute(prepared)

    return _drive(engine, start, quiet)


def repair_with_progress(engine: Engine, run_id: int, *, quiet: bool, **kwargs: Any) -> dict[str, Any]:
    def start(created: Callable[[int], None]) -> dict[str, Any]:
        created(run_id)
        return engine.repair(run_id, **kwargs)

    return _drive(engine, start, quiet)
