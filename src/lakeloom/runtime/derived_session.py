"""A Spark session of its own on a process's warm driver, for one run or one warm command."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger("lakeloom.spark")


class DerivedSession:
    """A ``newSession()`` of the warm session (its own temp views, SQL settings and current
    catalog, the same SparkContext), made on first use. ``stop`` forgets it only: the warm
    driver keeps running for the next run or command.
    """

    def __init__(self, warm_session: Callable[[], Any],
                 driver_conf: Callable[[], dict[str, str]] | None = None) -> None:
        self._warm_session = warm_session
        self._driver_conf = driver_conf
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._session is not None

    def get(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._warm_session().newSession()
            return self._session

    def conf(self) -> dict[str, str]:
        """The settings of the driver's application (job clusters that differ get their own)."""
        return dict(self._driver_conf()) if self._driver_conf is not None else {}

    def interrupt(self) -> None:
        """Cancel the Spark jobs this session runs (other sessions' jobs keep going)."""
        session = self._session
        if session is not None:
            try:
                session.interruptAll()
            except Exception:
                log.debug("interruptAll failed", exc_info=True)

    def stop(self) -> None:
        with self._lock:
            self._session = None
