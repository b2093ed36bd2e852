"""The Dashboard: the three slots (who, which job, what state, for how long), the queue by
status, this month's spend against the budgets, what waits for approval, and recent events.

Slot events move the slots at once; other events change the numbers by reloading only the
panel they concern (a short debounce gathers a burst of job events into one request)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Static

from mcp_server.api.models import Approval, Budget, Event, QueueCounts, Slot
from tui import format as fmt
from tui.client import ConsoleError
from tui.screens.base import ConsoleScreen
from tui.widgets.styles import STATUS_STYLE

RECENT = 50
QUEUE_ORDER = ("pending_approval", "queued", "running", "validating", "succeeded", "failed",
               "cancelled", "rejected")
RELOAD_AFTER_S = 0.25


class DashboardScreen(ConsoleScreen):
    """Everything at a glance, kept live by the feed."""

    TITLE = "Dashboard"
    CSS_PATH = "dashboard.tcss"
    BINDINGS = [Binding("r", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.slots: dict[int, Slot] = {}
        self.counts: QueueCounts | None = None
        self.budgets: list[Budget] = []
        self.pending: list[Approval] = []
        self.recent: deque[Event] = deque(maxlen=RECENT)
        self._stale: set[str] = set()
        self._debounce: Timer | None = None

    def body(self) -> Iterable[Any]:
        yield Static(id="slots", classes="panel")
        with Horizontal(id="figures"):
            yield Static(id="queue", classes="panel")
            yield Static(id="spend", classes="panel")
        with Horizontal(id="lower"):
            yield Static(id="approvals", classes="panel")
            yield Static(id="events", classes="panel")

    def on_mount(self) -> None:
        for panel, title in (("slots", "Slots"), ("queue", "Queue"), ("spend", "Spend this month"),
                             ("approvals", "Pending approvals"), ("events", "Recent events")):
            self.query_one(f"#{panel}", Static).border_title = title
        # "For how long" moves with the clock.
        self.set_interval(1.0, self._show_slots)

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load({"pool", "queue", "spend", "approvals", "events"})

    @work(group="dashboard")
    async def _load(self, parts: set[str]) -> None:
        client = self.console.client
        fetch: dict[str, Any] = {
            "pool": client.pool, "queue": client.queue, "spend": client.budgets,
            "approvals": lambda: client.approvals(status="pending"),
            "events": lambda: client.recent_events(RECENT),
        }
        wanted = [p for p in fetch if p in parts]
        answers = await asyncio.gather(*(fetch[p]() for p in wanted), return_exceptions=True)
        for part, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, ConsoleError):
                self.notify(str(answer), title=f"cannot load {part}", severity="error")
                if part == "events":
                    self.console.start_feed(None)
                continue
            if isinstance(answer, BaseException):
                raise answer
            self._take(part, answer)

    def _take(self, part: str, answer: Any) -> None:
        if part == "pool":
            self.slots = {s.index: s for s in answer.slots}
            self._show_slots()
        elif part == "queue":
            self.counts = answer
            self._show_queue()
        elif part == "spend":
            self.budgets = answer.budgets
            self._show_spend()
        elif part == "approvals":
            self.pending = answer.approvals
            self._show_approvals()
        elif part == "events":
            if self.console.feed_start is None:
                self.recent.extend(answer.events)
                self.console.start_feed(str(answer.last_id))
            self._show_events()

    # ---- live -------------------------------------------------------------------------

    def on_live_event(self, event: Event) -> None:
        self.recent.append(event)
        self._show_events()
        if event.kind == "slot":
            self._move_slot(event)
        elif event.kind == "job":
            self._reload_soon({"queue", "spend"})
        elif event.kind == "approval":
            self._reload_soon({"approvals"})
        elif event.kind == "budget":
            self._reload_soon({"spend"})

    def _move_slot(self, event: Event) -> None:
        data = event.data
        index = int(data.get("index", event.subject))
        self.slots[index] = Slot.model_validate({
            "index": index, "state": event.status, "employee": data.get("employee"),
            "job_id": data.get("job_id"), "since": event.at})
        self._show_slots()

    def _reload_soon(self, parts: set[str]) -> None:
        self._stale |= parts
        if self._debounce is None:
            self._debounce = self.set_timer(RELOAD_AFTER_S, self._reload_stale)

    def _reload_stale(self) -> None:
        parts, self._stale, self._debounce = self._stale, set(), None
        self._load(parts)

    # ---- panels -------------------------------------------------------------------------

    def _show_slots(self) -> None:
        now = self.console.clock()
        table = Table.grid(padding=(0, 2), expand=True)
        for name, ratio in (("slot", 0), ("state", 0), ("employee", 2), ("job", 0), ("for", 0)):
            table.add_column(name, ratio=ratio or None, no_wrap=True, overflow="ellipsis")
        for slot in sorted(self.slots.values(), key=lambda s: s.index):
            state = Text(slot.state, style=STATUS_STYLE.get(slot.state, ""))
            table.add_row(f"#{slot.index}", state, slot.employee or "—",
                          fmt.short_id(slot.job_id) or "—", fmt.since(slot.since, now))
        self.query_one("#slots", Static).update(table if self.slots else "no slots yet")

    def _show_queue(self) -> None:
        if self.counts is None:
            return
        # Two columns of four statuses: the live ones on the left, the finished on the right.
        table = Table.grid(padding=(0, 1))
        for justify in ("left", "right", "left", "right"):
            table.add_column(justify=justify, no_wrap=True)  # type: ignore[arg-type]
        cells = [self._count_cells(status) for status in QUEUE_ORDER]
        for left, right in zip(cells[:4], cells[4:], strict=True):
            table.add_row(*left, *right)
        table.add_row(Text("total", style="italic"), str(self.counts.total))
        self.query_one("#queue", Static).update(table)

    def _count_cells(self, status: str) -> tuple[Text, Text]:
        count = self.counts.counts.get(status, 0) if self.counts else 0
        return (Text(status.replace("_", " "), style=STATUS_STYLE.get(status, "")),
                Text(str(count), style="bold" if count else "dim"))

    def _show_spend(self) -> None:
        if not self.budgets:
            self.query_one("#spend", Static).update(Text("no budgets set", style="dim"))
            return
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column("budget", no_wrap=True, overflow="ellipsis", ratio=1)
        table.add_column("spent", justify="right", no_wrap=True)
        table.add_column("left", justify="right", no_wrap=True)
        for budget in self.budgets:
            table.add_row(budget.name, f"{fmt.usd(budget.spent_usd)}/{fmt.usd(budget.limit_usd)}",
                          f"{fmt.usd(budget.remaining_usd)} left")
        self.query_one("#spend", Static).update(table)

    def _show_approvals(self) -> None:
        panel = self.query_one("#approvals", Static)
        panel.border_title = f"Pending approvals ({len(self.pending)})"
        if not self.pending:
            panel.update(Text("nothing waits", style="dim"))
            return
        now = self.console.clock()
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column("what", no_wrap=True, overflow="ellipsis", ratio=1)
        table.add_column("left", justify="right", no_wrap=True)
        for approval in self.pending:
            table.add_row(f"{approval.action}: {approval.summary}",
                          fmt.countdown(approval.expires_at, now))
        panel.update(table)

    def _show_events(self) -> None:
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column("at", no_wrap=True)
        table.add_column("what", no_wrap=True, overflow="ellipsis", ratio=1)
        for event in list(self.recent)[::-1]:
            table.add_row(Text(fmt.clock(event.at), style="dim"), _describe(event))
        self.query_one("#events", Static).update(table)


def _describe(event: Event) -> Text:
    """`job 1a2b3c4d running (llama)`: one line per event."""
    subject = fmt.short_id(event.subject) if event.kind in ("job", "approval") else event.subject
    text = Text(f"{event.kind} {subject} ")
    text.append(event.status or "", style=STATUS_STYLE.get(event.status or "", ""))
    who = event.data.get("employee")
    if who:
        text.append(f" ({who})", style="dim")
    return text
