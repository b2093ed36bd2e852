"""The three-slot pool: residency, LRU eviction with real Ollama unloads, slots claimed with
their jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from governance.auditor import Auditor
from orchestra.employees.cache import AdapterCache
from orchestra.errors import Unavailable
from orchestra.models import Claim, NewJob, SlotState
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
    return Pool(db, adapters.get, size=size)


async def _claim(pool: Pool, db: Database, employee: str, worker: str = "w",
                 lease: float = 30) -> Claim:
    """Submit a job for `employee`, claim it with a slot and make the employee resident."""
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x", employee=employee), actor="t")
    claim = await queue.claim(worker, lease, pool.size)
    assert claim is not None
    await pool.make_resident(claim.slot, employee, claim.job.id, claim.lease)
    return claim


async def _run(pool: Pool, db: Database, employee: str) -> int:
    claim = await _claim(pool, db, employee)
    await queue_for(db).start_validating(claim.job, claim.lease)  # gives the slot back
    return claim.slot.index


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


async def test_busy_slots_are_never_evicted_and_a_job_waits_queued(
    db: Database, ollama: FakeOllama
) -> None:
    pool = await _pool(db, ollama, size=1)
    queue = queue_for(db)
    held = await _claim(pool, db, "e-m0")
    waiting = (await queue.submit(NewJob(prompt="x", employee="e-m1"), actor="t")).job
    assert await queue.claim("w", 30, 1) is None
    assert (await queue.get(waiting.id)).status.value == "queued"
    assert ollama.loaded == {"m0"}
    await queue.start_validating(held.job, held.lease)
    claim = await queue.claim("w", 30, 1)
    assert claim is not None and claim.job.id == waiting.id and claim.slot.evicted == "e-m0"
    await pool.make_resident(claim.slot, "e-m1", claim.job.id, claim.lease)
    assert ollama.loaded == {"m1"}


async def test_three_slots_hold_across_concurrent_claimers(
    db: Database, ollama: FakeOllama
) -> None:
    await _pool(db, ollama)  # hires the employees
    queue = queue_for(db)
    for model in MODELS:
        await queue.submit(NewJob(prompt="x", employee=f"e-{model}"), actor="t")
    claims = await asyncio.gather(*(queue.claim(f"w{i}", 30, 3) for i in range(4)))
    taken = [c for c in claims if c is not None]
    assert sorted(c.slot.index for c in taken) == [0, 1, 2]
    async with db.connection() as conn:
        loading = await conn.fetchval("SELECT count(*) FROM pool_slots WHERE state = 'loading'")
        running = await conn.fetchval("SELECT count(*) FROM jobs WHERE status = 'running'")
    assert loading == 3 and running == 3


async def test_failed_load_empties_the_slot(db: Database, ollama: FakeOllama) -> None:
    pool = await _pool(db, ollama)
    await hire(db, "ghost", "ollama", model="not-pulled")
    with pytest.raises(Unavailable, match="could not load ghost"):
        await _claim(pool, db, "ghost")
    assert all(s.state is SlotState.EMPTY for s in await pool.slots())


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
    old = await _claim(pool, db, "e-m0", worker="w1", lease=0.05)
    await asyncio.sleep(0.1)
    await queue.requeue_expired(actor="rescuer")  # w1 went silent; its slot is freed
    new = await queue.claim("w2", 30, 3)
    assert new is not None and new.job.id == old.job.id
    assert new.slot.index == old.slot.index and not new.slot.loading  # resident, reused
    await pool.release(old.job.id, old.lease)  # w1 wakes up and cleans up after itself
    slot = (await pool.slots())[new.slot.index]
    assert slot.state is SlotState.BUSY and slot.job_id == new.job.id
