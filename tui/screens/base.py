"""What every console screen has: the header, its body, the link bar and the footer; live
events and link changes delivered to `on_live_event` / `on_link_change`; its key bindings
offered in the command palette too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header

from mcp_server.api.models import Event
from tui.live import LinkState, Reset
from tui.widgets.link_bar import LinkBar

if TYPE_CHECKING:
    from tui.app import AuraConsole


class ConsoleScreen(Screen[None]):
    """A screen of the console. Subclasses compose `body()` and react to live events."""

    @property
    def console(self) -> AuraConsole:
        return cast("AuraConsole", self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield from self.body()
        yield LinkBar(id="link")
        yield Footer()

    def body(self) -> Iterable[Any]:
        raise NotImplementedError

    def on_mount(self) -> None:
        # Textual calls every class's `on_mount` along the MRO, the subclass's first, so a
        # screen sets itself up in its own `on_mount` and this one then loads it.
        self.console.events.subscribe(self, self._live_event)
        self.console.link.subscribe(self, self._link_change)
        self.query_one(LinkBar).show(self.console.link_state)
        self.reload()

    def reload(self) -> None:
        """Fetch what the screen shows (in a worker)."""

    def on_live_event(self, event: Event) -> None:
        """One event of the feed; the default ignores it."""

    def _live_event(self, event: Event | Reset) -> None:
        if isinstance(event, Reset):
            self.reload()
        else:
            self.on_live_event(event)

    def _link_change(self, state: LinkState) -> None:
        was_offline = self.query_one(LinkBar).has_class("-offline")
        self.query_one(LinkBar).show(state)
        if state.online and was_offline:
            # Whatever changed while the link was down: the feed resumes its events, but a
            # screen that could not load at all needs its picture.
            self.reload()

    def context_commands(self) -> Iterator[SystemCommand]:
        """This screen's shown key bindings, for the command palette."""
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.show and binding.description:
                yield SystemCommand(f"{binding.description} ({binding.key})",
                                    f"{self.title or type(self).__name__}: {binding.action}",
                                    partial(self.run_action, binding.action))
