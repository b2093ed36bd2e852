"""Job events from PostgreSQL's LISTEN/NOTIFY, fanned out to waiters in this process.

The `jobs_notify` trigger announces every insert and status change on channel `aura_jobs`.
One connection per process listens; workers wait for `queued`, `wait_job` for its job. A lost
notification only delays: every waiter also wakes on its own timeout and looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from typing import Any

import asyncpg

CHANNEL = "aura_jobs"
POOL_CHANNEL = "aura_pool"


class JobEvents:
    """Owns the listening connection and the per-job and "work available" wake-ups."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._queued = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)
        await self._conn.add_listener(POOL_CHANNEL, self._on_pool_notify)

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        job_text, _, status = str(payload).partition(" ")
        if status == "queued":
            self._queued.set()
        try:
            job_id = uuid.UUID(job_text)
        except ValueError:
            return
        for event in self._waiters.get(job_id, ()):
            event.set()

    def _on_pool_notify(self, _conn: Any, _pid: int, _channel: str, _payload: object) -> None:
        self._slot_freed.set()

    async def wait_for_slot(self, timeout: float) -> None:
        """Return when a pool slot may have been freed, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot_freed.wait(), timeout)
        self._slot_freed.clear()

    async def wait_for_work(self, timeout: float) -> None:
        """Return when a job may have been queued, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queued.wait(), timeout)
        self._queued.clear()

    @contextlib.contextmanager
    def watch(self, job_id: uuid.UUID) -> Any:
        """An event set on every change of `job_id` while the block runs."""
        event = asyncio.Event()
        self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]
