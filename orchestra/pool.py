"""The pool: at most three model slots shared by every worker (rows in `pool_slots`).

A job is claimed together with its slot (`JobQueue.claim`, SQL `claim_job()`): the
employee's own idle slot, an empty slot, or the least recently used idle slot of another
employee. A slot claimed `loading` gets its employee loaded here, after the claim has
committed, so no transaction is held across the provider calls; the slot goes back when the
job moves on to validation or ends (in the same statement as that move).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from orchestra.aio import complete_despite_cancel
from orchestra.employees.base import EmployeeAdapter
from orchestra.errors import Unavailable
from orchestra.models import Slot, SlotClaim
from orchestra.store.db import Database
from orchestra.store.queries import load
from orchestra.store.rows import slot_from_row

_P = load("pool")
log = logging.getLogger("orchestra.pool")

AdapterFor = Callable[[str], Awaitable[EmployeeAdapter]]


class Pool:
    """Loads and unloads employees through their adapters; reads and frees slots."""

    def __init__(self, db: Database, adapter_for: AdapterFor, *, size: int = 3) -> None:
        if not 1 <= size <= 3:
            raise ValueError("the pool has 1 to 3 slots")
        self.db = db
        self.adapter_for = adapter_for
        self.size = size

    async def slots(self) -> list[Slot]:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_P["list_slots"], self.size)
        return [slot_from_row(r) for r in rows]

    async def make_resident(
        self, slot: SlotClaim, employee: str, job_id: uuid.UUID, lease: str
    ) -> None:
        """Load `employee` into a slot claimed `loading`, then mark it busy.

        The evicted employee is unloaded first unless its model is still needed by another
        slot. If loading fails or is cancelled the slot is emptied (never left `loading`) and,
        for a failure, `Unavailable` is raised.
        """
        if not slot.loading:
            return
        try:
            if slot.evicted is not None and not await self._still_resident(slot.evicted):
                await (await self.adapter_for(slot.evicted)).unload()
            await (await self.adapter_for(employee)).load()
        except BaseException as exc:
            await complete_despite_cancel(self.release(job_id, lease))
            if isinstance(exc, Exception):
                raise Unavailable(
                    f"could not load {employee} into slot {slot.index}: {exc}"
                ) from exc
            raise
        async with self.db.connection() as conn:
            await conn.execute(_P["mark_busy"], slot.index, job_id, lease)
        evicted = f", evicting {slot.evicted}" if slot.evicted else ""
        log.info("slot %d loaded %s%s", slot.index, employee, evicted,
                 extra={"event": "pool.loaded", "slot": slot.index, "employee": employee,
                        "evicted": slot.evicted, "tone": "note"})

    async def _still_resident(self, employee: str) -> bool:
        async with self.db.connection() as conn:
            return bool(await conn.fetchval(_P["still_resident"], employee, self.size))

    async def release(self, job_id: uuid.UUID, lease: str) -> None:
        """Give back the slot `lease` holds for the job (idle if loaded, else empty)."""
        async with self.db.connection() as conn:
            await conn.execute(_P["release_job_slot"], job_id, lease)

    async def free_orphans(self, *, actor: str) -> None:
        """Free slots whose job is no longer running anywhere (see `free_orphaned_slots`)."""
        async with self.db.connection() as conn:
            await conn.execute(_P["free_orphaned_slots"], actor)
