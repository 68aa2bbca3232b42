"""Call observer hooks (run and task start/end) so that one broken plugin cannot keep the others
from seeing the event: each implementation is called on its own and its error logged.

pluggy stops at the first implementation that raises, so a plugin whose ``lakeloom_after_run``
fails would otherwise leave later plugins' per-run state (the ML plugin's default registry, a
notifier's pending alert) behind for the life of the process."""
from __future__ import annotations

import logging
from typing import Any


def call_each(hook: Any, log: logging.Logger, **kwargs: Any) -> None:
    """Call every implementation of ``hook`` in pluggy's order with the arguments it names,
    logging (never raising) what one of them raises."""
    for impl in reversed(hook.get_hookimpls()):
        if getattr(impl, "hookwrapper", False) or getattr(impl, "wrapper", False):
            continue  # run observers define no wrappers; a wrapper needs pluggy's own call loop
        names = tuple(impl.argnames) + tuple(getattr(impl, "kwargnames", ()) or ())
        try:
            impl.function(**{name: kwargs[name] for name in names if name in kwargs})
        except Exception:
            log.exception("%s failed in plugin %s", hook.name, impl.plugin_name)
