"""Job events from PostgreSQL's LISTEN/NOTIFY, fanned out to waiters in this process.

The `jobs_notify` trigger announces every insert and status change on channel `aura_jobs`.
One connection per process listens; workers wait for `queued` or a freed slot (`aura_pool`),
`wait_job` for its job. The live feed's `aura_events` (migration 008) carries the number of
each event committed; readers of the feed wait for a number past theirs. A lost
notification only delays: every waiter also wakes on its own timeout and looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger("orchestra.events")
CHANNEL = "aura_jobs"
POOL_CHANNEL = "aura_pool"
FEED_CHANNEL = "aura_events"


class JobEvents:
    """Owns the listening connection and the per-job and "work available" wake-ups."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None
        # Set when a job is queued or a slot frees up anywhere: either may let a claim succeed.
        self._work = asyncio.Event()
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._cancel_listeners: list[Callable[[uuid.UUID], None]] = []
        self._stopping = False
        self._reconnect: asyncio.Task[None] | None = None
        # The newest feed event announced, and a signal replaced on each announcement, so
        # every reader waiting on the old one wakes (a broadcast without per-reader queues).
        self._feed_tip = 0
        self._feed_news = asyncio.Event()

    async def start(self) -> None:
        self._stopping = False
        await self._listen()

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        await conn.add_listener(CHANNEL, self._on_notify)
        await conn.add_listener(POOL_CHANNEL, self._on_pool_notify)
        await conn.add_listener(FEED_CHANNEL, self._on_feed_notify)
        conn.add_termination_listener(self._on_lost)
        self._conn = conn

    def _on_lost(self, _conn: Any) -> None:
        if self._stopping:
            return
        self._conn = None
        self._wake_everyone()  # notifications may have been missed: everyone looks again
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self, retry_s: float = 1.0) -> None:
        while not self._stopping and self._conn is None:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(retry_s)
                continue
            log.info("listening for job events again")
            self._wake_everyone()

    def _wake_everyone(self) -> None:
        self._work.set()
        self.wake_feed()
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def stop(self) -> None:
        self._stopping = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        job_text, _, status = str(payload).partition(" ")
        if status == "queued":
            self._work.set()
        try:
            job_id = uuid.UUID(job_text)
        except ValueError:
            return
        for event in self._waiters.get(job_id, ()):
            event.set()
        if status == "cancelled":
            for listener in self._cancel_listeners:
                listener(job_id)

    def on_cancel(self, listener: Callable[[uuid.UUID], None]) -> None:
        """Call `listener(job_id)` whenever a job is cancelled anywhere (once per listener)."""
        if listener not in self._cancel_listeners:
            self._cancel_listeners.append(listener)

    def _on_pool_notify(self, _conn: Any, _pid: int, _channel: str, _payload: object) -> None:
        self._work.set()

    def _on_feed_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            self._feed_tip = max(self._feed_tip, int(str(payload)))
        self.wake_feed()

    def wake_feed(self) -> None:
        """Wake every reader of the feed (an event committed, or they must look again)."""
        self._feed_news.set()
        self._feed_news = asyncio.Event()

    async def wait_for_feed(self, after: int, timeout: float) -> bool:
        """Return True when an event after `after` may have committed (or readers were woken),
        False when `timeout` s passed without news."""
        if self._feed_tip > after:
            return True
        news = self._feed_news
        try:
            await asyncio.wait_for(news.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_for_work(self, timeout: float) -> None:
        """Return when a job may have been queued or a slot freed, or after `timeout` s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)
        self._work.clear()

    @contextlib.contextmanager
    def watch(self, *job_ids: uuid.UUID) -> Any:
        """An event set on every change of any of `job_ids` while the block runs."""
        event = asyncio.Event()
        for job_id in job_ids:
            self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            for job_id in job_ids:
                waiters = self._waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[job_id]
