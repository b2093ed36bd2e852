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

import asyncpg

from orchestra.store.db import Database
from orchestra.store.queries import load

log = logging.getLogger("governance.journal")
_Q = load("audit")


MAX_BATCH = 500  # entries per statement: the head's lock is held for one batch at a time
MAX_TEXT = 200  # characters kept of a client-chosen name (a tool name, say)


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """Text a client chose, made storable: no NUL, no lone surrogates, bounded length."""
    safe = text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\ufffd")
    return safe if len(safe) <= limit else safe[:limit] + "…"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """One audit entry waiting to be appended. Build it with `PendingEntry.of` for text that
    came from a client, so a hostile name cannot make the batch unwritable."""

    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]

    @classmethod
    def of(
        cls, actor: str, action: str, subject: str | None, details: dict[str, Any]
    ) -> PendingEntry:
        return cls(clean_text(actor), clean_text(action),
                   clean_text(subject) if subject is not None else None, details)


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
        """Append everything buffered so far; raises if the database is unreachable."""
        async with self._lock:
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                try:
                    await self._append(batch)
                except (asyncpg.DataError, UnicodeError):
                    # One entry the database cannot store must not block the rest for ever:
                    # append them one by one, each unstorable one as a marked placeholder.
                    await self._append_one_by_one(batch)
                del self._pending[:len(batch)]

    async def _append(self, batch: list[PendingEntry]) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                _Q["append_entries"],
                [e.actor for e in batch], [e.action for e in batch],
                [e.subject for e in batch], [e.details for e in batch],
            )

    async def _append_one_by_one(self, batch: list[PendingEntry]) -> None:
        for entry in batch:
            try:
                await self._append([entry])
            except (asyncpg.DataError, UnicodeError) as exc:
                log.error("audit entry could not be stored as given: %s", exc)
                await self._append([PendingEntry.of(
                    entry.actor, entry.action, None,
                    {"unstorable": True, "error": type(exc).__name__},
                )])

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
