"""Asks for the Director key: the browser console's first screen (`aura tui --web`). The key
is tried against the API before the console opens, so a wrong one is said at once; nothing is
read from the environment or the key file, so reaching the web port grants nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from tui.client import ConsoleError

if TYPE_CHECKING:
    from tui.web import WebConsole


class KeyEntryScreen(Screen[None]):
    """The key, typed hidden; `enter` tries it."""

    TITLE = "Director key"
    CSS_PATH = "key_entry.tcss"
    AUTO_FOCUS = "#key"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(classes="dialog"):
            yield Static("Enter the Director key to open the console.", classes="question")
            yield Input(placeholder="Director key", password=True, id="key")
            yield Static("It is in AURA_HOME/director.key on the Aura's host.", id="hint",
                         classes="hint")
        yield Footer()

    @on(Input.Submitted, "#key")
    def _submitted(self, event: Input.Submitted) -> None:
        key = event.value.strip()
        if not key:
            self._say("the key is empty", error=True)
            return
        self._say("checking the key…", error=False)
        self._try(key)

    @work(exclusive=True, group="key")
    async def _try(self, key: str) -> None:
        console = cast("WebConsole", self.app)
        client = console.client_with(key)
        try:
            await client.pool()
        except ConsoleError as exc:
            await client.aclose()
            self._say(str(exc), error=True)
            self.query_one("#key", Input).value = ""
            return
        await console.unlock(client)

    def _say(self, text: str, *, error: bool) -> None:
        hint = self.query_one("#hint", Static)
        hint.update(text)
        hint.set_class(error, "-error")
