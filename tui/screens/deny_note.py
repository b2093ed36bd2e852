"""Asks for the note a denial needs (the caller gets it back). `enter` denies with it; an
empty note is refused on the spot; `escape` leaves the approval undecided."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static


class DenyNoteScreen(ModalScreen[str | None]):
    """Dismissed with the note, or None when the Director changed their mind."""

    CSS_PATH = "modal.tcss"
    BINDINGS = [Binding("escape", "give_up", "Keep undecided")]

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Deny {self.what}", classes="question")
            yield Input(placeholder="why (required; the requester reads it)", id="note")
            yield Static("enter: deny with this note   escape: keep undecided", id="hint",
                         classes="hint")
        yield Footer()

    @on(Input.Submitted, "#note")
    def _submitted(self, event: Input.Submitted) -> None:
        note = event.value.strip()
        if not note:
            self.query_one("#hint", Static).update("a denial needs a note saying why")
            self.query_one("#hint", Static).add_class("-error")
            return
        self.dismiss(note)

    def action_give_up(self) -> None:
        self.dismiss(None)
