"""The live event feed (`events` table, migration 008): replay after an id, then follow.

Every change of a job, slot, employee, budget or approval is an event numbered at commit,
gap-free, so "everything after N" is one query and a reconnecting reader loses nothing. New
events are announced by NOTIFY `aura_events` (see `JobEvents.wait_for_feed`); a reader also
looks again every `heartbeat_s`, so a lost notification delays an event, never drops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestra.events import JobEvents
from orchestra.store.db import Database
from orchestra.store.queries import load

_Q = load("events")
BATCH = 500  # events read per query while catching up


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One change: its number, its kind (`job`, `slot`, …) and what the client is sent."""

    id: int
    ts: datetime
    kind: str
    subject: str
    status: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Gap:
    """Events after `after` were pruned before the reader asked for them: it should reload
    its view. The feed goes on from `resume` (the oldest event still kept, minus one)."""

    after: int
    resume: int


@dataclass(frozen=True, slots=True)
class Quiet:
    """Nothing happened for a heartbeat interval (the edge sends a keep-alive comment)."""


Item = FeedEvent | Gap | Quiet


class EventFeed:
    """Reads the feed for any number of followers; owns the "closing" signal that ends them."""

    def __init__(self, db: Database, signals: JobEvents) -> None:
        self.db = db
        self.signals = signals
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End every follower after the events it is sending (the process is stopping)."""
        self._closing.set()
        self.signals.wake_feed()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    async def window(self) -> tuple[int, int]:
        """(oldest kept id, newest id)."""
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_Q["events_window"])
        return int(row["oldest"]), int(row["newest"])

    async def after(self, after: int, limit: int = BATCH) -> list[FeedEvent]:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_Q["events_after"], after, limit)
        return [_event(r) for r in rows]

    async def recent(self, limit: int) -> list[FeedEvent]:
        """The newest `limit` events, oldest first: what a live view shows before it follows."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(_Q["events_recent"], limit)
        return [_event(r) for r in reversed(rows)]

    async def history(self, kind: str, subject: str, limit: int = BATCH) -> list[FeedEvent]:
        """One object's kept events, oldest first (a job's status changes)."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(_Q["events_of_subject"], kind, subject, limit)
        return [_event(r) for r in rows]

    async def follow(self, after: int | None, heartbeat_s: float) -> AsyncIterator[Item]:
        """Events after `after` (None: from now on), then new ones as they commit, with a
        `Quiet` whenever `heartbeat_s` passes without one; ends when the feed closes."""
        oldest, newest = await self.window()
        if after is None or after > newest:
            # A number from the future (another database, a reset one) cannot be resumed.
            cursor = newest
        elif after < oldest - 1:
            yield Gap(after=after, resume=oldest - 1)
            cursor = oldest - 1
        else:
            cursor = after
        while not self.closing:
            batch = await self.after(cursor)
            for event in batch:
                yield event
                cursor = event.id
            if len(batch) == BATCH:
                continue  # still catching up
            if not await self._wait(cursor, heartbeat_s):
                yield Quiet()

    async def _wait(self, cursor: int, timeout: float) -> bool:
        """Wait for an event after `cursor`, the feed's closing, or `timeout`; False on the
        timeout alone."""
        if self.closing:
            return True
        return await self.signals.wait_for_feed(cursor, timeout)

    async def prune(self, max_age: timedelta, keep: int) -> int:
        """Drop events older than `max_age` and all but the newest `keep`; returns how many."""
        async with self.db.connection() as conn:
            return int(await conn.fetchval(_Q["prune_events"], max_age.total_seconds(), keep))


def _event(row: Any) -> FeedEvent:
    return FeedEvent(row["id"], row["ts"], row["kind"], row["subject"], row["status"], row["data"])
