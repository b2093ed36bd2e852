"""One line saying whether the console is live, or offline and trying again."""

from __future__ import annotations

from textual.widgets import Static

from tui.live import LinkState


class LinkBar(Static):
    """`● live` or `○ offline: <why> (retry n)`; the `-offline` class colours it."""

    def show(self, state: LinkState) -> None:
        self.set_class(not state.online, "-offline")
        if state.online:
            self.update("● live")
        elif state.attempts == 0:
            self.update(f"○ {state.detail}…")
        else:
            self.update(f"○ offline, reconnecting (try {state.attempts}): {state.detail}")
