"""What every ``lakeloom`` command shares: the workspace/engine state and ``k=v`` parsing."""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from lakeloom.engine.api import Engine
    from lakeloom.spec.loader import JobSpecError

EXIT_INVALID = 2


class State:
    """The root command's options; opens the workspace and engine on first use."""

    def __init__(self, workspace: str | None, target: str | None) -> None:
        self.workspace_dir = workspace
        self.target = target
        self._engine: Engine | None = None

    def workspace(self) -> Any:
        from lakeloom.config import ConfigError, load_workspace

        try:
            return load_workspace(self.workspace_dir, self.target)
        except ConfigError as e:
            raise click.ClickException(str(e)) from None

    def engine(self) -> Engine:
        if self._engine is None:
            from lakeloom.engine.api import Engine

            self._engine = Engine.open(self.workspace())
            from lakeloom.cli import warm

            command = warm.current()
            if command is not None:  # inside a warm driver: its session, not a new JVM
                self._engine.spark_provider = command.spark
        return self._engine


pass_state = click.make_pass_decorator(State)


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    """``k=v`` pairs of a repeatable ``--param`` option as a dict."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise click.BadParameter(f"expected k=v, got {p!r}", param_hint="--param")
        k, v = p.split("=", 1)
        out[k.strip()] = v
    return out


def exit_with_run(final: dict[str, Any], as_json: bool) -> NoReturn:
    """Print the final ``Run`` as JSON when asked; exit 0 on SUCCESS, else 1."""
    if as_json:
        click.echo(json.dumps(final, indent=2, default=str))
    sys.exit(0 if final.get("state", {}).get("result_state") == "SUCCESS" else 1)


def exit_invalid(error: JobSpecError) -> NoReturn:
    """Print each problem of a bundle or job file as ``Error: file:line: ...``; exit 2."""
    for err in error.errors:
        click.echo(f"Error: {err.format()}", err=True)
    sys.exit(EXIT_INVALID)
