"""Approvals: the Director's inbox, pending first, each with the time left before it expires
(and counts as denied). `a` approves the selected one; `d` asks for the note a denial needs.
Approval events reload the inbox, so a decision made elsewhere shows at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import work
from textual.binding import Binding
from textual.widgets import DataTable, Static

from mcp_server.api.models import Approval, Event
from tui import format as fmt
from tui.client import ConsoleError
from tui.screens.base import ConsoleScreen
from tui.screens.deny_note import DenyNoteScreen

COLUMNS = (("id", 8), ("action", 8), ("subject", 8), ("summary", 24), ("expires", 9),
           ("by", 8))


class ApprovalsScreen(ConsoleScreen):
    """What waits for the Director."""

    TITLE = "Approvals"
    CSS_PATH = "approvals.tcss"
    BINDINGS = [
        Binding("a", "approve", "Approve"),
        Binding("d", "deny", "Deny…"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, Approval] = {}

    def body(self) -> Iterable[Any]:
        yield Static(id="count")
        yield DataTable(id="inbox", cursor_type="row", zebra_stripes=True)
        yield Static(id="detail")

    def on_mount(self) -> None:
        table = self.query_one("#inbox", DataTable)
        for name, width in COLUMNS:
            table.add_column(name, key=name, width=width)
        self.set_interval(1.0, self._tick)

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="approvals")
    async def _load(self) -> None:
        try:
            answer = await self.console.client.approvals(status="pending")
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot load approvals", severity="error")
            return
        self.pending = {a.id: a for a in answer.approvals}
        self._fill()

    def on_live_event(self, event: Event) -> None:
        if event.kind == "approval":
            self.reload()

    # ---- the table ----------------------------------------------------------------------

    def _fill(self) -> None:
        table = self.query_one("#inbox", DataTable)
        now = self.console.clock()
        table.clear()
        # Soonest to expire first: that is the order they need deciding in.
        for approval in sorted(self.pending.values(), key=lambda a: a.expires_at):
            table.add_row(fmt.short_id(approval.id), approval.action,
                          fmt.short_id(approval.subject),
                          fmt.one_line(approval.summary, dict(COLUMNS)["summary"]),
                          fmt.countdown(approval.expires_at, now), approval.requested_by,
                          key=approval.id)
        count = len(self.pending)
        self.query_one("#count", Static).update(
            f"{count} pending" if count else "nothing waits for you")
        self._show_detail()

    def _tick(self) -> None:
        table = self.query_one("#inbox", DataTable)
        now = self.console.clock()
        for approval_id, approval in self.pending.items():
            if approval_id in table.rows:
                table.update_cell(approval_id, "expires",
                                  fmt.countdown(approval.expires_at, now))

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        chosen = self.selected()
        self.query_one("#detail", Static).update(
            "" if chosen is None else f"{chosen.action} {chosen.subject}: {chosen.summary}")

    def selected(self) -> Approval | None:
        table = self.query_one("#inbox", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return self.pending.get(str(key.value))

    # ---- decisions ----------------------------------------------------------------------

    def action_reload(self) -> None:
        self.reload()

    def action_approve(self) -> None:
        chosen = self.selected()
        if chosen is not None:
            self._decide(chosen.id, None)

    def action_deny(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return

        def deny_with(note: str | None) -> None:
            if note is not None:
                self._decide(chosen.id, note)

        self.app.push_screen(DenyNoteScreen(f"{chosen.action} {fmt.short_id(chosen.subject)}"),
                             deny_with)

    @work(group="decisions")
    async def _decide(self, approval_id: str, deny_note: str | None) -> None:
        client = self.console.client
        try:
            decided = (await client.approve(approval_id) if deny_note is None
                       else await client.deny(approval_id, deny_note))
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot decide", severity="error")
            return
        self.notify(f"{decided.action} {fmt.short_id(decided.subject)}: {decided.status}")
        self.pending.pop(approval_id, None)
        self._fill()
