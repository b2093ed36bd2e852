"""Audit: the log's newest entries, narrowed by `actor=… action=… subject=…` typed in the
filter (`/`), and the chain's state: `v` recomputes the hash chain on the server and, when it
does not hold, shows the first bad entry itself. New events bring the tail up to date."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from mcp_server.api.models import AuditEntry, AuditReport, Event
from tui import format as fmt
from tui.client import ConsoleError
from tui.debounce import Debounced
from tui.screens.base import ConsoleScreen
from tui.widgets.tables import add_columns

COLUMNS = (("seq", 5), ("at", 8), ("actor", 10), ("action", 16), ("subject", 10),
           ("details", 60))
FILTERS = ("actor", "action", "subject")
TAIL = 200
RELOAD_AFTER_S = 0.5


class FilterError(ValueError):
    """The filter text is not `name=value` words with known names."""


def parse_filter(text: str) -> dict[str, str]:
    """`actor=director action=hire` as the API's query; a bare word is a subject."""
    wanted: dict[str, str] = {}
    for word in text.split():
        name, sep, value = word.partition("=")
        if not sep:
            name, value = "subject", word
        if name not in FILTERS or not value:
            raise FilterError(f"filter by {', '.join(f'{f}=…' for f in FILTERS)}, not {word!r}")
        wanted[name] = value
    return wanted


class AuditScreen(ConsoleScreen):
    """The tamper-evident record, read and checked."""

    TITLE = "Audit"
    CSS_PATH = "audit.tcss"
    AUTO_FOCUS = "#tail"
    BINDINGS = [
        Binding("v", "verify", "Verify chain"),
        Binding("slash", "filter", "Filter"),
        Binding("r", "reload", "Reload"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[AuditEntry] = []
        self.filters: dict[str, str] = {}
        self.report: AuditReport | None = None
        self.first_bad: AuditEntry | None = None
        self._later = Debounced(self, RELOAD_AFTER_S, self.reload)

    def body(self) -> Iterable[Any]:
        yield Input(placeholder="filter: actor=… action=… subject=… (enter applies)",
                    id="filter")
        yield Static("chain not checked yet: v verifies it", id="chain")
        yield DataTable(id="tail", cursor_type="row", zebra_stripes=True)
        yield Static(id="bad")

    def on_mount(self) -> None:
        add_columns(self.query_one("#tail", DataTable), COLUMNS, fill_to=self.app.size.width)

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="audit")
    async def _load(self) -> None:
        try:
            page = await self.console.client.audit(TAIL, **self.filters)
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot load the audit log", severity="error")
            return
        self.entries = page.entries
        self._fill()

    def on_live_event(self, event: Event) -> None:
        # Every state change the feed reports was audited in the same transaction.
        self._later.soon()

    def _fill(self) -> None:
        table = self.query_one("#tail", DataTable)
        table.clear()
        for entry in self.entries:
            table.add_row(str(entry.seq), fmt.clock(entry.ts), entry.actor, entry.action,
                          entry.subject or "", _details(entry), key=str(entry.seq))

    # ---- verify -------------------------------------------------------------------------

    def action_verify(self) -> None:
        chain = self.query_one("#chain", Static)
        chain.update("verifying the chain…")
        chain.set_class(False, "-broken", "-ok")
        self._verify()

    @work(exclusive=True, group="verify")
    async def _verify(self) -> None:
        client = self.console.client
        try:
            report = await client.audit_verify()
            bad = None
            if not report.ok and report.first_bad_seq is not None:
                found = await client.audit(1, seq=report.first_bad_seq)
                bad = found.entries[0] if found.entries else None
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot verify", severity="error")
            self.query_one("#chain", Static).update(f"not verified: {exc}")
            return
        self.report, self.first_bad = report, bad
        self._show_report()

    def _show_report(self) -> None:
        report, chain = self.report, self.query_one("#chain", Static)
        if report is None:
            return
        chain.set_class(report.ok, "-ok")
        chain.set_class(not report.ok, "-broken")
        if report.ok:
            chain.update(f"✓ chain holds: {report.entries} entries, head {report.head_seq}")
            self.query_one("#bad", Static).update("")
            return
        chain.update(f"✗ chain BROKEN at entry {report.first_bad_seq} ({report.kind}); "
                     f"{report.entries} read, head {report.head_seq}")
        bad = self.first_bad
        self.query_one("#bad", Static).update(
            Text(f"first bad entry {report.first_bad_seq}: the log no longer holds it "
                 "(removed or the head ran ahead)", style="bold red") if bad is None else
            Text(f"first bad entry {bad.seq} at {bad.ts}: {bad.actor} {bad.action} "
                 f"{bad.subject or ''} {_details(bad)}", style="bold red"))

    # ---- filter -------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#filter", Input).value = ""
        self._apply("")

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self._apply(event.value)

    def _apply(self, text: str) -> None:
        try:
            self.filters = parse_filter(text)
        except FilterError as exc:
            self.notify(str(exc), title="filter", severity="warning")
            return
        self.query_one("#tail", DataTable).focus()
        self.reload()

    def action_reload(self) -> None:
        self.reload()


def _details(entry: AuditEntry) -> str:
    return json.dumps(entry.details, separators=(",", ":"), sort_keys=True)
