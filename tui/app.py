"""The Director's console: a Textual app over the HTTP API (DESIGN §11).

The app owns the API client and the live feed; screens are modes (one per top-level view,
each with its own stack, switched with the number keys or the command palette) and hear
about live events through `App.events` and about the link through `App.link`. A later screen
is one entry in `SCREENS` below and one file in `screens/`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal

from mcp_server.api.models import Event
from tui.client import ApiClient
from tui.live import LinkState, LiveFeed, Reset
from tui.screens.approvals import ApprovalsScreen
from tui.screens.audit import AuditScreen
from tui.screens.base import ConsoleScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.employees import EmployeesScreen
from tui.screens.jobs import JobsScreen
from tui.screens.ledger import LedgerScreen

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class ScreenEntry:
    """A top-level view: its mode name, its key, its title and its class."""

    mode: str
    key: str
    title: str
    screen: type[Screen[None]]
    about: str


SCREENS = (
    ScreenEntry("dashboard", "1", "Dashboard", DashboardScreen,
                "slots, queue, spend, approvals and recent events"),
    ScreenEntry("jobs", "2", "Jobs", JobsScreen, "every job: filter, sort, open one"),
    ScreenEntry("approvals", "3", "Approvals", ApprovalsScreen,
                "what waits for the Director: approve or deny"),
    ScreenEntry("employees", "4", "Employees", EmployeesScreen,
                "the roster and scores: hire, suspend, reinstate, terminate"),
    ScreenEntry("audit", "5", "Audit", AuditScreen, "the audit log's tail; verify the chain"),
    ScreenEntry("ledger", "6", "Ledger", LedgerScreen,
                "spend by employee and by day, budgets"),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class AuraConsole(App[None]):
    """`aura tui`: the console for one Aura, reached at `client.base_url`."""

    TITLE = "Aura Orchestra"
    CSS_PATH = "app.tcss"
    MODES = {entry.mode: entry.screen for entry in SCREENS}
    DEFAULT_MODE = "dashboard"
    # One footer entry for the screen keys ("1-3 Views") keeps the footer within 80 columns;
    # each screen is also a command in the palette.
    BINDINGS = [
        *(Binding(entry.key, f"show('{entry.mode}')", "Views" if n == 0 else entry.title,
                  show=n == 0, key_display=f"1-{len(SCREENS)}" if n == 0 else None)
          for n, entry in enumerate(SCREENS)),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client: ApiClient, *, clock: Clock = utc_now,
                 follow: bool = True) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.follow = follow
        self.events: Signal[Event | Reset] = Signal(self, "events")
        self.link: Signal[LinkState] = Signal(self, "link")
        self.link_state = LinkState(online=False, detail="connecting")
        # The feed's newest id when the Dashboard took its picture; the feed follows from it.
        self.feed_start: str | None = None
        self.last_event_id: int | None = None  # the newest event the screens have been given

    def on_mount(self) -> None:
        self.sub_title = self.client.base_url

    def start_feed(self, last_event_id: str | None) -> None:
        """Follow the feed from `last_event_id` (called once the first picture is taken, so
        nothing between the picture and the stream is lost). Later calls do nothing."""
        if self.follow and self.feed_start is None:
            self.feed_start = last_event_id or ""
            self._follow(last_event_id)

    @work(exclusive=True, group="feed")
    async def _follow(self, last_event_id: str | None) -> None:
        await LiveFeed(self.client, self._publish_event, self._publish_link,
                       last_event_id).run()

    async def _publish_event(self, event: Event | Reset) -> None:
        if isinstance(event, Event):
            self.last_event_id = event.id
        self.events.publish(event)

    async def _publish_link(self, state: LinkState) -> None:
        self.link_state = state
        self.link.publish(state)

    def action_show(self, mode: str) -> None:
        self.switch_mode(mode)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for entry in SCREENS:
            yield SystemCommand(f"Go to {entry.title}", entry.about,
                                lambda mode=entry.mode: self.switch_mode(mode))
        if isinstance(screen, ConsoleScreen):
            yield from screen.context_commands()
        yield from super().get_system_commands(screen)

    async def on_unmount(self) -> None:
        await self.client.aclose()


def run(base_url: str, key: str) -> None:
    """Run the console until the Director quits."""
    AuraConsole(ApiClient(base_url, key)).run()
