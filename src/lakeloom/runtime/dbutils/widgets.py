"""``dbutils.widgets``: notebook parameters, as Databricks jobs expose them.

Inside a task the values come from ``ctx.parameters`` (the task's resolved
key-value parameters with job parameters pushed down). A widget declared with
``text``/``dropdown``/... only supplies a default for a name the task did not pass.
Outside a task, widgets live in a process-wide local state (like the SDK's local
implementation), so notebooks can be developed in a plain Python session.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from lakeloom.plugin_api import StashKey, TaskContext, current_context
from lakeloom.spec.parameters import param_string


class InputWidgetNotDefined(Exception):
    """Raised by ``dbutils.widgets.get`` for a name that is neither passed nor declared."""


@dataclass
class WidgetState:
    """The widgets of one task attempt (or of the process, outside a task)."""

    #: values passed by the task (parameters); they win over declared defaults.
    passed: dict[str, str] = field(default_factory=dict)
    #: declared widgets: name -> (kind, default, choices, label).
    declared: dict[str, tuple[str, str, list[str] | None, str | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def value(self, name: str) -> str:
        if name in self.passed:
            return self.passed[name]
        if name in self.declared:
            return self.declared[name][1]
        raise InputWidgetNotDefined(f"No input widget named {name} is defined")

    def all_values(self) -> dict[str, str]:
        out = {name: spec[1] for name, spec in self.declared.items()}
        out.update(self.passed)
        return out


_STATE_KEY = StashKey[WidgetState]()


_local_state = WidgetState()


def widget_state(ctx: TaskContext | None = None) -> WidgetState:
    """The widget state of ``ctx`` (default: the current task), created on first use."""
    ctx = ctx if ctx is not None else current_context()
    if ctx is None:
        return _local_state
    state = ctx.stash.get(_STATE_KEY, None)
    if state is None:
        state = ctx.stash.setdefault(_STATE_KEY, WidgetState(passed=dict(ctx.parameters)))
    return state


class WidgetsUtil:
    """``dbutils.widgets``; every call acts on the widgets of the task running on this thread."""

    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        """Declare a text widget; ``get(name)`` returns ``defaultValue`` unless the task passed ``name``."""
        self._declare(name, "text", defaultValue, None, label)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        """Declare a dropdown; ``defaultValue`` must be one of ``choices``."""
        choices = [param_string(c) for c in choices]
        if param_string(defaultValue) not in choices:
            raise ValueError(f"widget {name!r}: default value {defaultValue!r} is not one of the choices {choices}")
        self._declare(name, "dropdown", defaultValue, choices, label)

    def combobox(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        """Declare a combobox (a dropdown that also accepts free text)."""
        self._declare(name, "combobox", defaultValue, [param_string(c) for c in choices], label)

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        """Declare a multiselect; its value is a comma-separated subset of ``choices``."""
        choices = [param_string(c) for c in choices]
        bad = [v for v in param_string(defaultValue).split(",") if v and v not in choices]
        if bad:
            raise ValueError(f"widget {name!r}: default value(s) {bad} are not among the choices {choices}")
        self._declare(name, "multiselect", defaultValue, choices, label)

    def get(self, name: str) -> str:
        """The widget's value: the task's parameter ``name``, else the declared default."""
        state = widget_state()
        with state.lock:
            return state.value(name)

    def getArgument(self, name: str, defaultValue: str | None = None) -> str | None:
        """Deprecated Databricks spelling of ``get`` that returns ``defaultValue`` when undefined."""
        try:
            return self.get(name)
        except InputWidgetNotDefined:
            return defaultValue

    def getAll(self) -> dict[str, str]:
        """Every widget value: declared defaults overridden by the task's parameters."""
        state = widget_state()
        with state.lock:
            return state.all_values()

    def remove(self, name: str) -> None:
        """Remove a declared widget (values the task passed stay readable)."""
        state = widget_state()
        with state.lock:
            if name not in state.declared and name not in state.passed:
                raise InputWidgetNotDefined(f"No input widget named {name} is defined")
            state.declared.pop(name, None)

    def removeAll(self) -> None:
        """Remove every declared widget."""
        state = widget_state()
        with state.lock:
            state.declared.clear()

    def _declare(self, name: str, kind: str, default: Any, choices: list[str] | None, label: str | None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a widget name must be a non-empty string")
        state = widget_state()
        with state.lock:
            state.declared[name] = (kind, param_string(default), choices, label)

    def help(self, method: str | None = None) -> None:
        """Print the widget methods (as ``dbutils.widgets.help()`` does)."""
        print("dbutils.widgets: text, dropdown, combobox, multiselect, get, getArgument, getAll, remove, removeAll")


def reset_widgets(ctx: TaskContext, parameters: dict[str, str]) -> WidgetState:
    """Start ``ctx``'s widgets afresh with ``parameters`` as the passed values."""
    state = WidgetState(passed=dict(parameters))
    ctx.stash[_STATE_KEY] = state
    return state
