"""The in-process event bus: every event goes to whoever subscribed, never blocking a turn."""

from __future__ import annotations

import logging
from collections.abc import Callable

from cohost.core.ports import Handler

log = logging.getLogger(__name__)


class LocalBus:
    """Delivers each event to the subscribed handlers at once; a failing handler is logged."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Call handler with every event from now on; returns how to stop that."""
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)

        return unsubscribe

    def publish(self, topic: str, payload: dict[str, object]) -> None:
        self.published += 1
        for handler in tuple(self._handlers):  # a handler may unsubscribe while we deliver
            try:
                handler(topic, payload)
            except Exception:
                # one broken subscriber (a dashboard, a logger) must not break a turn
                self.handler_errors += 1
                log.exception("bus handler failed on %s", topic)
