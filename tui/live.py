"""The console's live link: `/api/v1/events` followed for as long as the console runs, resumed
with `Last-Event-ID` after every drop so nothing is missed, and its state (live or offline)
reported as it changes. Screens hear about events through the app's signals, not by asking."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mcp_server.api.models import Event
from tui.client import ApiClient, ConsoleError

# Waits between reconnection attempts (seconds): quick at first, then every few seconds.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True, slots=True)
class LinkState:
    """Whether the feed is being followed; when not, why and how many tries so far."""

    online: bool
    detail: str = ""
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Reset:
    """Events were lost (pruned while the console was away): every view should reload."""


class LiveFeed:
    """Follows the feed, calling `on_event` for each event (or `Reset`) and `on_link` when the
    link goes up or down. `run()` returns only when cancelled."""

    def __init__(self, client: ApiClient, on_event: Callable[[Event | Reset], Awaitable[None]],
                 on_link: Callable[[LinkState], Awaitable[None]],
                 last_event_id: str | None = None) -> None:
        self.client = client
        self.on_event = on_event
        self.on_link = on_link
        self.last_event_id = last_event_id

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with self.client.events(self.last_event_id) as stream:
                    failures = 0
                    await self.on_link(LinkState(online=True))
                    async for sent in stream:
                        self.last_event_id = sent.id or self.last_event_id
                        await self.on_event(Reset() if sent.kind == "reset"
                                            else _event(sent.id, sent.kind, sent.data))
                detail = "the server ended the stream"
            except ConsoleError as exc:
                detail = str(exc)
            failures += 1
            await self.on_link(LinkState(online=False, detail=detail, attempts=failures))
            await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S)) - 1])


def _event(event_id: str, kind: str, data: dict[str, object]) -> Event:
    """An event of the stream in the shape `/events/recent` answers (the same `data`)."""
    status = data.get("status")
    return Event(id=int(event_id), kind=kind, subject=str(data.get("id", "")),
                 status=None if status is None else str(status), at=str(data.get("at", "")),
                 data=data)
