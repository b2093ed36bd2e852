"""The three-slot pool: residency, LRU eviction with real Ollama unloads, waiting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from governance.auditor import Auditor
from orchestra.employees.cache import AdapterCache
from orchestra.errors import Unavailable
from orchestra.models import NewJob, SlotState
from orchestra.pool import Pool
from orchestra.roster import Roster
from orchestra.store.db import Database
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, queue_for

MODELS = ("m0", "m1", "m2", "m3")


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(MODELS) as fake:
        yield fake


async def _pool(db: Database, ollama: FakeOllama, size: int = 3) -> Pool:
    for model in MODELS:
        await hire(db, f"e-{model}", "ollama", model=model)
    adapters = AdapterCache(Roster(db, Auditor()), ollama_url=ollama.url)
    return Pool(db, adapters.get, size=size, poll_seconds=0.05)


async def _job(db: Database, worker: str = "w") -> uuid.UUID:
    """A job leased to `worker`: the pool gives slots only to jobs their worker holds."""
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    job = await queue.claim(worker, 30)
    assert job is not None
    # Claims lease as `<worker>/<attempt>`; these tests speak for the lease as plain `worker`.
    async with db.connection() as conn:
        await conn.execute("UPDATE jobs SET lease_owner = $2 WHERE id = $1", job.id, worker)
    return job.id


async def _run(pool: Pool, db: Database, name: str) -> int:
    employee = await Roster(db, Auditor()).get(name)
    lease = await pool.acquire(employee, await _job(db), "w", timeout=5)
    await pool.release(lease, "w")
    return lease.index


async def test_employee_stays_resident_and_reuses_its_slot(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama)
    first = await _run(pool, db, "e-m0")
    second = await _run(pool, db, "e-m0")
    assert first == second
    loads = [
        r for r in ollama.requests if r.path == "/api/generate" and r.body.get("model") == "m0"
    ]
    assert len(loads) == 1  # loaded once, then resident
    slots = await pool.slots()
    assert slots[first].state is SlotState.IDLE and slots[first].employee == "e-m0"


async def test_fourth_employee_evicts_the_least_recently_used(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama)
    for name in ("e-m0", "e-m1", "e-m2"):
        await _run(pool, db, name)
    await _run(pool, db, "e-m0")  # m0 is now the most recent; m1 is the LRU
    assert ollama.loaded == {"m0", "m1", "m2"}
    await _run(pool, db, "e-m3")
    assert ollama.loaded == {"m0", "m2", "m3"}
    residents = {s.employee for s in await pool.slots()}
    assert residents == {"e-m0", "e-m2", "e-m3"}


async def test_busy_slots_are_never_evicted_and_acquire_waits(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama, size=1)
    roster = Roster(db, Auditor())
    held = await pool.acquire(await roster.get("e-m0"), await _job(db), "w", timeout=5)
    waiter = asyncio.create_task(
        pool.acquire(await roster.get("e-m1"), await _job(db), "w", timeout=5)
    )
    await asyncio.sleep(0.3)
    assert not waiter.done()
    assert ollama.loaded == {"m0"}
    await pool.release(held, "w")
    lease = await waiter
    assert lease.evicted == "e-m0" and ollama.loaded == {"m1"}


async def test_acquire_times_out_when_every_slot_stays_busy(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama, size=1)
    roster = Roster(db, Auditor())
    await pool.acquire(await roster.get("e-m0"), await _job(db), "w", timeout=5)
    with pytest.raises(Unavailable, match="no pool slot came free"):
        await pool.acquire(await roster.get("e-m1"), await _job(db), "w", timeout=0.3)


async def test_three_slots_hold_across_concurrent_acquirers(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama)
    roster = Roster(db, Auditor())
    employees = [await roster.get(f"e-{m}") for m in MODELS]
    jobs = [await _job(db) for _ in range(3)]
    leases = await asyncio.gather(
        *(pool.acquire(e, j, "w", timeout=5) for e, j in zip(employees, jobs, strict=False))
    )
    assert sorted(lease.index for lease in leases) == [0, 1, 2]
    async with db.connection() as conn:
        busy = await conn.fetchval("SELECT count(*) FROM pool_slots WHERE state = 'busy'")
    assert busy == 3


async def test_failed_load_empties_the_slot(db: Database, ollama: FakeOllama) -> None:
    pool = await _pool(db, ollama)
    await hire(db, "ghost", "ollama", model="not-pulled")
    with pytest.raises(Unavailable, match="could not load ghost"):
        await pool.acquire(await Roster(db, Auditor()).get("ghost"), await _job(db), "w",
                           timeout=5)
    assert all(s.state is SlotState.EMPTY for s in await pool.slots())


async def test_release_by_another_worker_wakes_a_waiter_through_notify(
    db: Database, ollama: FakeOllama, db_url: str
) -> None:
    from orchestra.events import JobEvents

    events = JobEvents(db_url)
    await events.start()
    try:
        holder = await _pool(db, ollama, size=1)
        adapters = AdapterCache(Roster(db, Auditor()), ollama_url=ollama.url)
        # A second worker's pool: its own process-local event never fires; only NOTIFY can.
        waiter_pool = Pool(db, adapters.get, size=1, poll_seconds=30,
                           wait_for_slot=events.wait_for_slot)
        roster = Roster(db, Auditor())
        held = await holder.acquire(await roster.get("e-m0"), await _job(db, "w1"), "w1",
                                    timeout=5)
        waiter = asyncio.create_task(
            waiter_pool.acquire(await roster.get("e-m0"), await _job(db, "w2"), "w2", timeout=20)
        )
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        released_at = loop.time()
        await holder.release(held, "w1")
        lease = await asyncio.wait_for(waiter, 5)
        assert loop.time() - released_at < 2  # far sooner than the 30 s poll
        assert lease.index == held.index
    finally:
        await events.stop()


async def test_evicting_an_employee_keeps_a_model_another_slot_still_uses(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama, size=2)
    await hire(db, "twin", "ollama", model="m0")  # a second employee on m0
    await _run(pool, db, "e-m0")
    await _run(pool, db, "twin")
    assert ollama.loaded == {"m0"}
    await _run(pool, db, "e-m1")  # evicts e-m0 (the LRU); twin still holds m0
    assert ollama.loaded == {"m0", "m1"}
    residents = {s.employee for s in await pool.slots()}
    assert residents == {"twin", "e-m1"}


async def test_a_stale_lease_cannot_release_the_slot_its_successor_uses(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama)
    queue = queue_for(db)
    employee = await Roster(db, Auditor()).get("e-m0")
    await queue.submit(NewJob(prompt="x"), actor="t")
    old = await queue.claim("w1", 0.05)
    assert old is not None and old.lease_owner is not None
    stale = await pool.acquire(employee, old.id, old.lease_owner, timeout=5)
    await asyncio.sleep(0.1)
    await queue.requeue_expired(actor="rescuer")  # w1 went silent; its slot is freed
    new = await queue.claim("w2", 30)
    assert new is not None and new.id == old.id and new.lease_owner is not None
    current = await pool.acquire(employee, new.id, new.lease_owner, timeout=5)
    assert current.index == stale.index  # the resident slot, reused
    await pool.release(stale, old.lease_owner)  # w1 wakes up and cleans up after itself
    slot = (await pool.slots())[current.index]
    assert slot.state is SlotState.BUSY and slot.job_id == new.id
