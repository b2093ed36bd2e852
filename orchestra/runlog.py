"""A job's run log: everything its employee is sent and says, every command and its output.

The worker writes each entry to a local file (`AURA_SNAPSHOT_DIR/<job-id>/runlog.txt`) and
hands it to a sink; `RunLogShipper` is the sink that ships entries to PostgreSQL
(`job_runlog`), so `wait_job`'s progress and the run-log resource work from any host.
`RunLogReader` reads them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from orchestra.store.db import Database
from orchestra.store.queries import load
from orchestra.store.text import storable

log = logging.getLogger("orchestra.runlog")
_R = load("runlog")

# What one attempt of a job may put in the database; past it, one note says where the rest
# is. The file keeps everything.
MAX_SHIPPED_CHARS_PER_JOB = 4 * 1024 * 1024
FLUSH_EVERY_S = 0.5
# While the database is away entries wait for it, up to this many (then they are counted and
# dropped: the files keep them).
MAX_PENDING_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class RunLogEntry:
    """One entry: when, a one-line section header, and its body (possibly empty)."""

    ts: datetime
    section: str
    body: str

    def render(self) -> str:
        stamp = self.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        text = f"[{stamp}] {self.section}\n"
        if self.body:
            text += self.body if self.body.endswith("\n") else self.body + "\n"
        return text


Sink = Callable[[RunLogEntry], None]


class RunLog:
    """Everything an employee is sent and says, every command and its output, in order.

    Plain text, one header line per entry (`[time] SECTION`) followed by the body. Appends are
    serialised so concurrent writers (an employee's output pump, the validator) never interleave
    inside an entry. Each entry also goes to `sink` when one is given. Safe to call from
    threads.
    """

    def __init__(self, path: Path, sink: Sink | None = None) -> None:
        self.path = path
        self.sink = sink
        self._lock = threading.Lock()
        self._dir_ready = False

    def write(self, section: str, body: str = "") -> None:
        entry = RunLogEntry(datetime.now(UTC), section, body)
        with self._lock:
            # Created on first write, so a job that never logs leaves no directory.
            if not self._dir_ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._dir_ready = True
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(entry.render())
            if self.sink is not None:
                self.sink(entry)


class RunLogShipper:
    """Ships run-log entries to `job_runlog` in batches, from any thread.

    `sink_for(job_id)` gives a RunLog its sink; `run(stop)` flushes every `FLUSH_EVERY_S`
    until stopped (then once more); `flush()` writes what is pending now, so a job's log is
    complete in the database before its outcome is. A job's entries beyond
    `MAX_SHIPPED_CHARS_PER_JOB` are replaced by one note (the local file has them).
    """

    def __init__(self, db: Database, *, host: str) -> None:
        self.db = db
        self.host = host
        self._pending: list[tuple[uuid.UUID, RunLogEntry]] = []
        self._shipped: dict[uuid.UUID, int] = {}
        self._lock = threading.Lock()
        self._flushing = asyncio.Lock()
        self._dropped = 0

    def sink_for(self, job_id: uuid.UUID) -> Sink:
        def sink(entry: RunLogEntry) -> None:
            with self._lock:
                if len(self._pending) >= MAX_PENDING_ENTRIES:
                    self._dropped += 1  # the database has been away a long time
                    return
                self._pending.append((job_id, self._within_budget(job_id, entry)))

        return sink

    def _within_budget(self, job_id: uuid.UUID, entry: RunLogEntry) -> RunLogEntry:
        used = self._shipped.get(job_id, 0)
        size = len(entry.section) + len(entry.body)
        self._shipped[job_id] = used + size
        if used + size <= MAX_SHIPPED_CHARS_PER_JOB:
            return entry
        if used > MAX_SHIPPED_CHARS_PER_JOB:
            return RunLogEntry(entry.ts, entry.section, "")
        return RunLogEntry(
            entry.ts, entry.section,
            f"[the run log passed {MAX_SHIPPED_CHARS_PER_JOB} characters; later bodies are in "
            f"runlog.txt on worker host {self.host}]",
        )

    def forget(self, job_id: uuid.UUID) -> None:
        """The job's attempt is over here: drop its budget counter."""
        with self._lock:
            self._shipped.pop(job_id, None)

    async def flush(self) -> None:
        async with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                async with self.db.connection() as conn:
                    await conn.execute(
                        _R["append_entries"],
                        [job for job, _ in batch],
                        [e.ts for _, e in batch],
                        [storable(e.section) for _, e in batch],
                        [storable(e.body) for _, e in batch],
                    )
            except asyncpg.DataError:
                # Not the database being away: these entries can never be stored. Dropping
                # them keeps one bad entry from stopping every later one.
                log.exception("dropping %d run-log entries the database refused (the files "
                              "under the snapshot directory keep them)", len(batch))
                return
            except Exception:
                # Put them back in front: the next flush tries again, order kept.
                with self._lock:
                    self._pending = batch + self._pending
                raise
            if self._dropped:
                log.error("%d run-log entries were not shipped while the database was away "
                          "(the files keep them)", self._dropped)
                self._dropped = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.flush()
            except Exception:
                log.exception("shipping run-log entries failed; will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_EVERY_S)
        await self.flush()


class RunLogReader:
    """Reads a job's run log from the database, from whichever host is serving."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def text(self, job_id: uuid.UUID) -> str:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_R["entries"], job_id)
        return "".join(
            RunLogEntry(r["ts"], r["section"], r["body"]).render() for r in rows
        )

    async def last_line(self, job_id: uuid.UUID) -> str:
        """The last non-empty line, for progress messages; empty when nothing is logged yet."""
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_R["last_entry"], job_id)
        if row is None:
            return ""
        text = RunLogEntry(row["ts"], row["section"], row["body"]).render()
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""
