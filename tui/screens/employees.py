"""Employees: the roster with each one's standing and HR score (success, checks passed, median
latency, cost per success over the last jobs). `h` opens the hire form; `s` suspends, `i`
reinstates (on probation), `t` terminates after a yes. Employee events reload the roster, so a
change made elsewhere (HR's automatic suspension, a CLI hire) shows at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.widgets import DataTable, Static

from mcp_server.api.models import Employee, Event, RosterEntry, Score
from tui import format as fmt
from tui.client import ConsoleError
from tui.debounce import Debounced
from tui.screens.base import ConsoleScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.hire import HireScreen
from tui.widgets.styles import STATUS_STYLE
from tui.widgets.tables import add_columns, selected_key

COLUMNS = (("name", 12), ("adapter", 7), ("status", 10), ("jobs", 4), ("ok", 4),
           ("checks", 6), ("p50", 5), ("$/ok", 7), ("model or command", 40))
RELOAD_AFTER_S = 0.25
# What each standing move is called in a notice.
MOVES = {"suspend": "suspended", "reinstate": "reinstated", "terminate": "terminated"}


class EmployeesScreen(ConsoleScreen):
    """Who works here, how well, and the Director's say over it."""

    TITLE = "Employees"
    CSS_PATH = "employees.tcss"
    AUTO_FOCUS = "#roster"
    BINDINGS = [
        Binding("h", "hire", "Hire"),
        Binding("s", "suspend", "Suspend"),
        Binding("i", "reinstate", "Reinstate"),
        Binding("t", "terminate", "Fire"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.roster: dict[str, RosterEntry] = {}
        self._later = Debounced(self, RELOAD_AFTER_S, self.reload)

    def body(self) -> Iterable[Any]:
        yield Static(id="count")
        yield DataTable(id="roster", cursor_type="row", zebra_stripes=True)
        yield Static(id="detail")

    def on_mount(self) -> None:
        add_columns(self.query_one("#roster", DataTable), COLUMNS, fill_to=self.app.size.width)

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="employees")
    async def _load(self) -> None:
        try:
            answer = await self.console.client.employees()
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot load the roster", severity="error")
            return
        self.roster = {e.name: e for e in answer.employees}
        self._fill()

    def on_live_event(self, event: Event) -> None:
        # A job's end changes a score; an employee event changes a standing.
        if event.kind == "employee" or (event.kind == "job" and event.status in (
                "succeeded", "failed")):
            self._later.soon()

    # ---- the table ----------------------------------------------------------------------

    def _fill(self) -> None:
        table = self.query_one("#roster", DataTable)
        chosen = selected_key(table)
        table.clear()
        # Working employees first, the terminated last; by name within.
        order = {"active": 0, "probation": 1, "suspended": 2, "terminated": 3}
        for e in sorted(self.roster.values(), key=lambda e: (order.get(e.status, 9), e.name)):
            table.add_row(e.name, e.adapter, Text(e.status, style=STATUS_STYLE.get(e.status, "")),
                          str(e.score.jobs), _percent(e.score.success_rate),
                          _percent(e.score.validation_pass_rate), _millis(e.score),
                          fmt.usd(e.score.cost_per_success_usd) or "—", _works_with(e),
                          key=e.name)
        if chosen in self.roster:
            table.move_cursor(row=table.get_row_index(chosen))
        working = sum(e.status in ("active", "probation") for e in self.roster.values())
        self.query_one("#count", Static).update(
            f"{len(self.roster)} employees, {working} taking work" if self.roster
            else "nobody is hired yet: h opens the hire form")
        self._show_detail()

    @on(DataTable.RowHighlighted, "#roster")
    def _show_detail(self) -> None:
        chosen = self.selected()
        text = "" if chosen is None else (
            f"{chosen.name}: {chosen.adapter} {_works_with(chosen)} · skills: "
            f"{', '.join(chosen.skills) or 'any'} · ${chosen.price_in}/${chosen.price_out} "
            f"per M tokens · network {'on' if chosen.network else 'off'} · score over the "
            f"last {chosen.score.window} jobs")
        self.query_one("#detail", Static).update(text)

    def selected(self) -> RosterEntry | None:
        key = selected_key(self.query_one("#roster", DataTable))
        return None if key is None else self.roster.get(key)

    # ---- the Director's say -------------------------------------------------------------

    def action_reload(self) -> None:
        self.reload()

    def action_hire(self) -> None:
        def hired(employee: Employee | None) -> None:
            if employee is not None:
                self.notify(f"hired {employee.name} ({employee.status})")
                self.reload()

        self.app.push_screen(HireScreen(), hired)

    def action_suspend(self) -> None:
        self._move_selected("suspend")

    def action_reinstate(self) -> None:
        self._move_selected("reinstate")

    def action_terminate(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._move(chosen.name, "terminate")

        self.app.push_screen(ConfirmScreen(
            f"Terminate {chosen.name}? The record stays; the employee never works again."),
            answered)

    def _move_selected(self, move: str) -> None:
        chosen = self.selected()
        if chosen is not None:
            self._move(chosen.name, move)

    @work(group="employee-moves")
    async def _move(self, name: str, move: str) -> None:
        try:
            employee = await self.console.client.employee_standing(name, move)
        except ConsoleError as exc:
            self.notify(str(exc), title=f"cannot {move} {name}", severity="error")
            return
        self.notify(f"{name} {MOVES[move]}: now {employee.status}")
        self.reload()


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def _millis(score: Score) -> str:
    ms = score.p50_latency_ms
    return "—" if ms is None else (f"{ms}ms" if ms < 1000 else f"{ms / 1000:.1f}s")


def _works_with(e: Employee) -> str:
    """The model it runs, or the command it is (argv[0] and what follows, on one line)."""
    if e.command:
        return " ".join(e.command)
    return e.model or ""
