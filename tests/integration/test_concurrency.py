"""Many writers at once on one database: workers, rescuers, the journal, a submitter.

Every statement that moves a job or a slot also takes the audit head's lock; this test runs
them all concurrently for a few seconds (with stalled heartbeats, so leases expire and jobs are
rescued mid-flight) and checks there is no deadlock, no error, a verifiable chain and no slot
left held by a job that is not running.
"""

from __future__ import annotations

import asyncio
import collections
import random
import uuid

from governance.auditor import Auditor
from governance.journal import AuditJournal, PendingEntry
from orchestra.employees.base import EmployeeAdapter
from orchestra.manager import WorkerRegistry
from orchestra.models import JobKind, JobStatus, NewJob
from orchestra.pool import Pool
from orchestra.queue import LeaseLost
from orchestra.store.db import Database
from tests.integration.helpers import hire, queue_for

DURATION_S = 4.0
LEASE_S = 0.6


class InstantAdapter:
    async def load(self) -> None:
        await asyncio.sleep(random.random() * 0.005)

    async def unload(self) -> None:
        await asyncio.sleep(random.random() * 0.005)


async def adapter_for(_name: str) -> EmployeeAdapter:
    return InstantAdapter()  # type: ignore[return-value]


async def _worker(
    db: Database, name: str, stop: asyncio.Event, errors: collections.Counter[str]
) -> None:
    queue, pool = queue_for(db), Pool(db, adapter_for)
    registry = WorkerRegistry(db)
    await registry.register(name, concurrency=1, heartbeat_seconds=LEASE_S / 3)
    while not stop.is_set():
        claim = await queue.claim(name, LEASE_S, 3)
        if claim is None:
            await asyncio.sleep(0.005)
            continue
        job, lease = claim.job, claim.lease
        stalled = random.random() < 0.1  # this one stops heartbeating: it will be rescued

        async def beat(job_id: uuid.UUID, lease: str) -> None:
            while True:
                await asyncio.sleep(LEASE_S / 3)
                await registry.heartbeat(name, {job_id: lease}, LEASE_S)

        heart = asyncio.create_task(beat(job.id, lease) if not stalled else asyncio.sleep(0))
        try:
            await pool.make_resident(claim.slot, job.employee or "", job.id, lease)
            await asyncio.sleep(LEASE_S * 2.5 if stalled else random.random() * 0.02)
            if random.random() < 0.7:
                job = await queue.start_validating(job, lease)
                await queue.finish(job, lease, JobStatus.SUCCEEDED, output="ok", diff=None,
                                   validation=None, error=None)
            else:
                await queue.hand_back(job, lease, reason="test")
        except LeaseLost:
            pass  # an expected outcome under this load
        except Exception as exc:  # anything else (a deadlock above all) fails the test
            errors[f"{type(exc).__name__}: {exc}"] += 1
        finally:
            heart.cancel()


async def _rescuer(db: Database, stop: asyncio.Event, errors: collections.Counter[str]) -> None:
    queue, pool = queue_for(db), Pool(db, adapter_for)
    registry = WorkerRegistry(db)
    while not stop.is_set():
        try:
            await registry.declare_dead("rescuer", actor="worker:rescuer")
            await queue.requeue_expired(actor="worker:rescuer")
            await pool.free_orphans(actor="worker:rescuer")
        except Exception as exc:
            errors[f"{type(exc).__name__}: {exc}"] += 1
        await asyncio.sleep(0.02)


async def _journal(db: Database, stop: asyncio.Event) -> None:
    journal = AuditJournal(db, max_delay_s=0.01)
    while not stop.is_set():
        for _ in range(random.randint(1, 30)):
            journal.add(PendingEntry.of("client:t", "mcp.tool_call", "get_job", {"outcome": "ok"}))
        await asyncio.sleep(0.003)
    await journal.close()


async def _submitter(db: Database, stop: asyncio.Event) -> None:
    queue = queue_for(db)
    while not stop.is_set():
        await queue.submit(NewJob(kind=JobKind.ASK, prompt="hi", max_attempts=2,
                                  employee=f"e{random.randint(0, 4)}"), actor="client:c")
        await asyncio.sleep(0.005)


async def test_concurrent_writers_never_deadlock_and_the_chain_holds(db_url: str) -> None:
    db = Database(db_url, max_size=20)
    await db.open()
    try:
        for k in range(5):
            await hire(db, f"e{k}")
        stop = asyncio.Event()
        errors: collections.Counter[str] = collections.Counter()
        tasks = [asyncio.create_task(_worker(db, f"w{i}", stop, errors)) for i in range(3)]
        tasks += [asyncio.create_task(_rescuer(db, stop, errors)),
                  asyncio.create_task(_journal(db, stop)),
                  asyncio.create_task(_submitter(db, stop))]
        await asyncio.sleep(DURATION_S)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert not errors, errors
        assert (await Auditor().verify(db)).ok
        async with db.connection() as conn:
            held = await conn.fetchval(
                "SELECT count(*) FROM pool_slots s JOIN jobs j ON j.id = s.job_id"
                " WHERE j.status NOT IN ('running', 'validating')")
            finished = await conn.fetchval("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
        assert held == 0 and finished > 0
    finally:
        await db.close()
