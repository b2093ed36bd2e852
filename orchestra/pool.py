"""The pool: at most three model slots shared by every worker (rows in `pool_slots`).

A slot keeps its employee resident between jobs. To run a job the pool takes, in order, the
employee's own idle slot, an empty slot, or the least recently used idle slot of another
employee, which it unloads first. When every slot is busy or loading, it waits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orchestra.aio import complete_despite_cancel
from orchestra.employees.base import EmployeeAdapter
from orchestra.errors import Unavailable
from orchestra.models import Employee, Slot
from orchestra.store.db import Database
from orchestra.store.queries import load
from orchestra.store.rows import slot_from_row

_P = load("pool")

AdapterFor = Callable[[str], Awaitable[EmployeeAdapter]]
# Waits until a slot may have been freed anywhere (NOTIFY on `aura_pool`) or the timeout passes.
SlotWaiter = Callable[[float], Awaitable[None]]


class NoFreeSlot(Unavailable):
    """Every slot stayed busy for as long as the caller would wait."""


@dataclass(frozen=True, slots=True)
class SlotLease:
    """A slot held by one job until `Pool.release`."""

    index: int
    job_id: uuid.UUID
    employee: str
    loaded: bool  # True when this lease had to load the employee
    evicted: str | None  # the employee unloaded to make room, if any


class Pool:
    """Hands out slots; loads and unloads employees through their adapters."""

    def __init__(
        self,
        db: Database,
        adapter_for: AdapterFor,
        *,
        size: int = 3,
        poll_seconds: float = 5.0,
        wait_for_slot: SlotWaiter | None = None,
    ) -> None:
        if not 1 <= size <= 3:
            raise ValueError("the pool has 1 to 3 slots")
        self.db = db
        self.adapter_for = adapter_for
        self.size = size
        self.poll_seconds = poll_seconds
        self._released = asyncio.Event()
        self._wait_for_slot = wait_for_slot

    async def slots(self) -> list[Slot]:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_P["list_slots"], self.size)
        return [slot_from_row(r) for r in rows]

    async def acquire(
        self, employee: Employee, job_id: uuid.UUID, holder: str, *, timeout: float
    ) -> SlotLease:
        """A slot with `employee` resident and busy on `job_id`; waits up to `timeout` s.

        `holder` is the job's lease (`<worker>/<attempt>`): only the attempt that holds the job
        gets a slot for it, and only the same holder can move or release that slot.

        Raises `Unavailable` when no slot frees up in time or the employee cannot be loaded.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    lease = await self._try_take(employee, job_id, holder)
                    if lease is not None:
                        return lease
                    await self._until_a_slot_may_be_free()
        except TimeoutError:
            raise NoFreeSlot(
                f"no pool slot came free for {employee.name} within {timeout:g} s"
            ) from None

    async def _until_a_slot_may_be_free(self) -> None:
        # A release in this process sets `_released`; one elsewhere arrives as a NOTIFY. Either
        # may be missed between the failed take and this wait, so the wait is also bounded.
        self._released.clear()
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._released.wait())]
        if self._wait_for_slot is not None:
            waits.append(asyncio.ensure_future(self._wait_for_slot(self.poll_seconds)))
        try:
            await asyncio.wait(waits, timeout=self.poll_seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _try_take(
        self, employee: Employee, job_id: uuid.UUID, holder: str
    ) -> SlotLease | None:
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_P["take_slot"], employee.name, self.size, job_id, holder)
        if row is None:
            return None
        evicted = row["previous_employee"] if row["previous_state"] == "idle" else None
        if evicted == employee.name:
            evicted = None
        lease = SlotLease(row["index"], job_id, employee.name, row["state"] == "loading", evicted)
        if lease.loaded:
            await self._load(lease, employee, holder)
        return lease

    async def _load(self, lease: SlotLease, employee: Employee, holder: str) -> None:
        # The slot is marked `loading` and committed first: no transaction is held across the
        # provider calls, and other workers see the slot as taken.
        try:
            if lease.evicted is not None and not await self._still_resident(lease.evicted):
                await (await self.adapter_for(lease.evicted)).unload()
            await (await self.adapter_for(employee.name)).load()
        except BaseException as exc:
            # Cancelled or failed mid-load: the slot must not stay `loading` for ever.
            await complete_despite_cancel(self._empty(lease, holder, reason=type(exc).__name__))
            if isinstance(exc, Exception):
                raise Unavailable(
                    f"could not load {employee.name} into slot {lease.index}: {exc}"
                ) from exc
            raise
        async with self.db.connection() as conn:
            await conn.execute(_P["mark_busy"], lease.index, lease.job_id, holder)

    async def _still_resident(self, employee: str) -> bool:
        async with self.db.connection() as conn:
            return bool(await conn.fetchval(_P["still_resident"], employee, self.size))

    async def _empty(self, lease: SlotLease, holder: str, *, reason: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(_P["empty_slot"], lease.index, lease.job_id, holder, reason)
        self._released.set()

    async def release(self, lease: SlotLease, holder: str) -> None:
        """The job is done with the slot; the employee stays resident (idle)."""
        async with self.db.connection() as conn:
            await conn.execute(_P["release_slot"], lease.index, lease.job_id, holder)
        self._released.set()

    async def free_orphans(self, *, actor: str) -> None:
        """Free slots whose job is no longer running anywhere (see `free_orphaned_slots`)."""
        async with self.db.connection() as conn:
            await conn.execute(_P["free_orphaned_slots"], actor)
