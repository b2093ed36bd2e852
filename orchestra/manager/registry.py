"""The `workers` table: each worker registers, heartbeats, and learns of dead peers.

A worker's heartbeat also extends the leases of the jobs it runs, in the same round trip. A
worker silent for three of its heartbeat intervals is declared dead by any other worker's
rescue pass, and its jobs are requeued at once.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from orchestra.store.db import Database
from orchestra.store.queries import load

_W = load("workers")


def new_worker_id() -> str:
    """`host:pid:random`: unique even when a pid is reused after a restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat learned: whether this worker still counts as alive, and which of the
    jobs it presented it still holds under their leases."""

    alive: bool
    held: frozenset[uuid.UUID]


@dataclass(frozen=True, slots=True)
class DeadWorker:
    id: str
    last_heartbeat: datetime


class WorkerRegistry:
    """Reads and writes `workers`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(self, worker: str, *, concurrency: int, heartbeat_seconds: float) -> None:
        async with self.db.connection() as conn:
            await conn.fetchrow(
                _W["register_worker"], worker, socket.gethostname(), os.getpid(), concurrency,
                heartbeat_seconds,
            )

    async def heartbeat(
        self, worker: str, leases: Mapping[uuid.UUID, str], lease_seconds: float
    ) -> Beat:
        """Beat for the worker and extend the leases (job id → lease) of its jobs."""
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_W["heartbeat_worker"], worker, list(leases),
                                      list(leases.values()), lease_seconds)
        return Beat(bool(row["alive"]), frozenset(row["held"]))

    async def stop(self, worker: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(_W["stop_worker"], worker)

    async def declare_dead(self, me: str, *, actor: str) -> list[DeadWorker]:
        """Declare silent peers dead; never `me` (a worker that was itself cut off learns of it
        from its own heartbeat instead)."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(_W["declare_dead_workers"], actor, me)
        return [DeadWorker(r["id"], r["heartbeat_at"]) for r in rows]
