"""A reload asked for many times within a moment runs once: a burst of live events costs one
request, not one per event."""

from __future__ import annotations

from collections.abc import Callable

from textual.message_pump import MessagePump
from textual.timer import Timer


class Debounced:
    """`soon()` calls `action` after `delay` seconds, once however often it was asked."""

    def __init__(self, owner: MessagePump, delay: float, action: Callable[[], object]) -> None:
        self.owner = owner
        self.delay = delay
        self.action = action
        self._timer: Timer | None = None

    def soon(self) -> None:
        if self._timer is None:
            self._timer = self.owner.set_timer(self.delay, self._run)

    def _run(self) -> None:
        self._timer = None
        self.action()
