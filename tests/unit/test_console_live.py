"""The console's live link: it resumes with the last event id it saw, says when it is offline,
and asks every view to reload after a `reset`."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from mcp_server.api.models import Event
from tests.unit.console_replay import BASE, recorded_console
from tui.client import ApiClient
from tui.live import LinkState, LiveFeed, Reset
from tui.widgets.link_bar import LinkBar

FIRST = ("id: 7\nevent: job\ndata: {\"id\":\"j1\",\"status\":\"queued\",\"at\":\"t\"}\n\n"
         "id: 8\nevent: job\ndata: {\"id\":\"j1\",\"status\":\"running\",\"at\":\"t\"}\n\n")
RESET = "id: 20\nevent: reset\ndata: {\"after\":8,\"resume\":20}\n\n"


async def test_the_feed_resumes_after_the_last_event_and_reports_the_drop() -> None:
    asked: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("last-event-id"))
        if len(asked) == 2:
            return httpx.Response(503, json={"detail": "database away"})
        body = FIRST if len(asked) == 1 else RESET
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    got: list[Event | Reset] = []
    links: list[LinkState] = []
    reset = asyncio.Event()

    async def on_event(event: Event | Reset) -> None:
        got.append(event)
        if isinstance(event, Reset):
            reset.set()

    async def on_link(state: LinkState) -> None:
        links.append(state)

    client = ApiClient(BASE, "k", transport=httpx.MockTransport(handle))
    feed = LiveFeed(client, on_event, on_link, last_event_id="5")
    task = asyncio.create_task(feed.run())
    try:
        await asyncio.wait_for(reset.wait(), 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()
    assert asked[:3] == ["5", "8", "8"]
    assert [(e.id, e.subject, e.status) for e in got if isinstance(e, Event)] == [
        (7, "j1", "queued"), (8, "j1", "running")]
    assert [s.online for s in links[:4]] == [True, False, False, True]
    assert "database away" in links[2].detail and links[2].attempts == 2


async def test_the_link_bar_says_offline_while_the_feed_cannot_connect() -> None:
    app, api = recorded_console()
    api.events_refused = "stopping"
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.screen.query_one(LinkBar)
        async with asyncio.timeout(10):
            while not bar.has_class("-offline") or "stopping" not in str(bar.render()):
                await pilot.pause(0.05)
        assert "reconnecting" in str(bar.render())
