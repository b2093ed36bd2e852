"""Tool-call audit entries, appended in batches off the caller's critical path.

A tool call's own state changes (a submitted job…) are audited in the transaction that makes
them. The record that a call happened — who, which tool, outcome, latency — is an access log:
it is buffered and appended within 100 ms, many entries per round trip, and flushed
when the process stops. A flush that fails is retried; nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from orchestra.store.db import Database
from orchestra.store.queries import load

log = logging.getLogger("governance.journal")
_Q = load("audit")


@dataclass(frozen=True, slots=True)
class PendingEntry:
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]


class AuditJournal:
    """Buffers audit entries and appends them in order, in batches."""

    def __init__(self, db: Database, *, max_delay_s: float = 0.1, retry_s: float = 1.0) -> None:
        self.db = db
        self.max_delay_s = max_delay_s
        self.retry_s = retry_s
        self._pending: list[PendingEntry] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closing = False

    def add(self, entry: PendingEntry) -> None:
        self._pending.append(entry)
        self._wake.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> None:
        """Append everything buffered so far; raises if the database refuses."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                async with self.db.connection() as conn:
                    await conn.execute(
                        _Q["append_entries"],
                        [e.actor for e in batch], [e.action for e in batch],
                        [e.subject for e in batch], [e.details for e in batch],
                    )
            except BaseException:
                self._pending[:0] = batch  # keep order; try again later
                raise

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await asyncio.sleep(self.max_delay_s)  # let a burst gather into one round trip
            try:
                await self.flush()
            except Exception:
                log.exception("audit journal flush failed; %d entries kept", len(self._pending))
                if self._closing:
                    return
                await asyncio.sleep(self.retry_s)
                self._wake.set()

    async def close(self) -> None:
        """Flush and stop. The flusher is never cancelled mid-write, so nothing is written twice."""
        self._closing = True
        self._wake.set()
        if self._flusher is not None:
            await self._flusher
        try:
            await self.flush()
        except Exception:
            log.error("%d audit entries could not be written at shutdown", len(self._pending))
            raise
