"""Ledger: what the workforce cost over the last days (`d` cycles 7, 30, 90), per employee
and per day, with the total, and every budget this month: limit, spent, held by calls under
way, what is left. A job's end or a budget change reloads it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from mcp_server.api.models import Budget, Event, Spend
from tui import format as fmt
from tui.client import ConsoleError
from tui.debounce import Debounced
from tui.screens.base import ConsoleScreen
from tui.widgets.tables import add_columns

WINDOWS = (7, 30, 90)
BY_EMPLOYEE = (("employee", 12), ("calls", 5), ("spent", 10))
BY_DAY = (("day", 10), ("calls", 5), ("spent", 10))
BUDGETS = (("budget", 12), ("for", 10), ("limit", 9), ("spent", 9), ("held", 8), ("left", 9),
           ("used", 5))
RELOAD_AFTER_S = 0.5
# A budget this full is shown as a warning; a full one as an error.
NEARLY_FULL = Decimal("0.8")


class LedgerScreen(ConsoleScreen):
    """Spend and budgets."""

    TITLE = "Ledger"
    CSS_PATH = "ledger.tcss"
    BINDINGS = [
        Binding("d", "next_window", "Days"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.days = 30
        self.spend: Spend | None = None
        self.budgets: list[Budget] = []
        self._later = Debounced(self, RELOAD_AFTER_S, self.reload)

    def body(self) -> Iterable[Any]:
        yield Static(id="total")
        with Horizontal(id="sums"):
            yield DataTable(id="by_employee", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="by_day", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="budgets", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table_id, columns, title in (("by_employee", BY_EMPLOYEE, "By employee"),
                                         ("by_day", BY_DAY, "By day"),
                                         ("budgets", BUDGETS, "Budgets this month")):
            table = self.query_one(f"#{table_id}", DataTable)
            add_columns(table, columns)
            table.border_title = title

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="ledger")
    async def _load(self) -> None:
        client = self.console.client
        try:
            spend, budgets = await asyncio.gather(client.spend(self.days), client.budgets())
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot load the ledger", severity="error")
            return
        self.spend, self.budgets = spend, budgets.budgets
        self._fill()

    def on_live_event(self, event: Event) -> None:
        if event.kind == "budget" or (event.kind == "job" and event.status in (
                "succeeded", "failed", "cancelled")):
            self._later.soon()

    def _fill(self) -> None:
        spend = self.spend
        if spend is None:
            return
        calls = sum(e.calls for e in spend.by_employee)
        self.query_one("#total", Static).update(
            f"last {self.days} days ({spend.since} to {spend.until}): "
            f"{fmt.usd(spend.total_usd)} over {calls} calls")
        people = self.query_one("#by_employee", DataTable)
        people.clear()
        for e in spend.by_employee:
            people.add_row(e.employee, str(e.calls), fmt.usd(e.spent_usd), key=e.employee)
        days = self.query_one("#by_day", DataTable)
        days.clear()
        for d in reversed(spend.by_day):  # today first
            days.add_row(d.day, str(d.calls), fmt.usd(d.spent_usd), key=d.day)
        self._fill_budgets()

    def _fill_budgets(self) -> None:
        table = self.query_one("#budgets", DataTable)
        table.clear()
        for b in self.budgets:
            used = (Decimal(b.spent_usd) + Decimal(b.reserved_usd)) / Decimal(b.limit_usd) \
                if Decimal(b.limit_usd) else Decimal(1)
            style = "bold red" if used >= 1 else ("yellow" if used >= NEARLY_FULL else "")
            table.add_row(b.name, b.employee or "everyone", fmt.usd(b.limit_usd),
                          fmt.usd(b.spent_usd), fmt.usd(b.reserved_usd),
                          fmt.usd(b.remaining_usd), Text(f"{round(used * 100)}%", style=style),
                          key=b.name)
        table.border_subtitle = "" if self.budgets else "no budgets set: aura budget set …"

    def action_next_window(self) -> None:
        self.days = WINDOWS[(WINDOWS.index(self.days) + 1) % len(WINDOWS)]
        self.reload()

    def action_reload(self) -> None:
        self.reload()
