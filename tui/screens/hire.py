"""The hire form: the fields `POST /api/v1/employees` takes (DESIGN §10), one line each so the
form fits 80x24. The API decides what an adapter needs; when it refuses, its problem text is
shown under the form and the form stays filled in. Dismissed with the hired employee, or None
when the Director gave up."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Footer, Input, Label, Select, Static

from mcp_server.api.models import Employee
from tui.client import ConsoleError

if TYPE_CHECKING:
    from tui.app import AuraConsole

ADAPTERS = ("ollama", "openai", "gemini", "cli")
# (field, label, placeholder): the text fields, in the order of DESIGN §10.
TEXT_FIELDS = (
    ("name", "name", "a-z, 0-9, _ . - (required)"),
    ("model", "model", "ollama/openai/gemini: the model tag"),
    ("base_url", "base url", "the server's URL (default: the adapter's)"),
    ("api_key_env", "key env", "the environment variable holding its key"),
    ("command", "command", "cli: argv, shell-quoted: agent --print {prompt}"),
    ("skills", "skills", "comma-separated: python, review"),
    ("price_in", "$/M in", "USD per million input tokens, e.g. 0.15"),
    ("price_out", "$/M out", "USD per million output tokens"),
    ("max_output_tokens", "max out", "output cap per call (default 4096)"),
)


class FormError(ValueError):
    """A field the form itself cannot turn into JSON (the API checks the rest)."""


class HireScreen(ModalScreen[Employee | None]):
    """Fill in, `ctrl+s` (or enter) hires, `escape` gives up."""

    CSS_PATH = "hire.tcss"
    BINDINGS = [Binding("ctrl+s", "hire", "Hire"),
                Binding("escape", "give_up", "Give up")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="form"):
            yield Static("Hire an employee (on probation, taking work at once)",
                         classes="question")
            with VerticalScroll(id="fields"):
                with Horizontal(classes="row"):
                    yield Label("adapter", classes="label")
                    yield Select([(a, a) for a in ADAPTERS], value="ollama", allow_blank=False,
                                 id="adapter", compact=True)
                for field, label, placeholder in TEXT_FIELDS:
                    with Horizontal(classes="row"):
                        yield Label(label, classes="label")
                        yield Input(placeholder=placeholder, id=field, compact=True)
                with Horizontal(classes="row"):
                    yield Label("network", classes="label")
                    yield Checkbox("may reach the network", id="network", compact=True)
            yield Static("ctrl+s or enter: hire   escape: give up", id="hint", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def body(self) -> dict[str, Any]:
        """The request body from the form; empty fields are left out (the API's defaults)."""
        text = {field: self.query_one(f"#{field}", Input).value.strip()
                for field, _, _ in TEXT_FIELDS}
        body: dict[str, Any] = {"name": text["name"],
                                "adapter": self.query_one("#adapter", Select).value,
                                "network": self.query_one("#network", Checkbox).value}
        for field in ("model", "base_url", "api_key_env", "price_in", "price_out"):
            if text[field]:
                body[field] = text[field]
        if text["command"]:
            try:
                body["command"] = shlex.split(text["command"])
            except ValueError as exc:
                raise FormError(f"command: {exc} (quote it as a shell would)") from None
        if text["skills"]:
            body["skills"] = [s.strip() for s in text["skills"].split(",") if s.strip()]
        if text["max_output_tokens"]:
            cap = text["max_output_tokens"]
            # A number goes as one; anything else as typed, for the API to say what is wrong.
            body["max_output_tokens"] = int(cap) if cap.isdecimal() else cap
        return body

    @on(Input.Submitted)
    def action_hire(self) -> None:
        try:
            body = self.body()
        except FormError as exc:
            self._say(str(exc), error=True)
            return
        self._say("hiring…", error=False)
        self._hire(body)

    @work(exclusive=True, group="hire")
    async def _hire(self, body: dict[str, Any]) -> None:
        console = cast("AuraConsole", self.app)
        try:
            employee = await console.client.hire(body)
        except ConsoleError as exc:
            self._say(f"refused: {exc}", error=True)
            return
        self.dismiss(employee)

    def _say(self, text: str, *, error: bool) -> None:
        hint = self.query_one("#hint", Static)
        hint.update(text)
        hint.set_class(error, "-error")

    def action_give_up(self) -> None:
        self.dismiss(None)
