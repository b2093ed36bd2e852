"""Submitting, claiming, leasing and rescuing jobs against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from governance.auditor import Auditor
from orchestra.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestra.models import JOB_TRANSITIONS, IllegalTransition, Job, JobKind, JobStatus, NewJob
from orchestra.queue import JobQueue
from orchestra.store.db import Database
from tests.integration.helpers import hire, queue_for


async def test_submit_writes_job_and_audit_entry_together(db: Database) -> None:
    await hire(db, "echo")
    submitted = await queue_for(db).submit(NewJob(prompt="hi", employee="echo"), actor="t")
    assert submitted.created and submitted.job.status is JobStatus.QUEUED
    async with db.connection() as conn:
        actions = await conn.fetch(
            "SELECT action FROM audit_log WHERE subject = $1", str(submitted.job.id)
        )
    assert [r["action"] for r in actions] == ["job.submitted"]


async def test_same_idempotency_key_returns_the_first_job(db: Database) -> None:
    queue = queue_for(db)
    new = NewJob(prompt="once", client="ide", idempotency_key="k1")
    first, second = await asyncio.gather(queue.submit(new, actor="t"), queue.submit(new, actor="t"))
    assert first.job.id == second.job.id
    assert sorted([first.created, second.created]) == [False, True]
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 1


async def test_unknown_employee_is_refused_and_nothing_is_written(db: Database) -> None:
    with pytest.raises(NotFound, match="nobody"):
        await queue_for(db).submit(NewJob(prompt="x", employee="nobody"), actor="t")
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_project_outside_workspaces_is_refused(db: Database, tmp_path: Path) -> None:
    inside = tmp_path / "ws"
    inside.mkdir()
    with pytest.raises(Forbidden, match="outside the workspaces"):
        await queue_for(db, inside).submit(NewJob(prompt="x", project=str(tmp_path)), actor="t")


@pytest.mark.parametrize("new, message", [
    (NewJob(prompt="   "), "prompt must not be empty"),
    (NewJob(prompt="x", acceptance=("true",)), "need a project"),
    (NewJob(prompt="x", priority=1000), "priority"),
    (NewJob(prompt="x", max_attempts=0), "max_attempts"),
    (NewJob(prompt="x", kind=JobKind.ASK, acceptance=("true",)), "no project"),
])
async def test_malformed_submissions_say_what_is_wrong(
    db: Database, new: NewJob, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await queue_for(db).submit(new, actor="t")


async def _claim(queue: JobQueue, worker: str = "w", lease: float = 30,
                 pool: int = 3) -> Job | None:
    claim = await queue.claim(worker, lease, pool)
    return claim.job if claim is not None else None


async def test_claim_prefers_priority_then_age(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    old = (await queue.submit(NewJob(prompt="old"), actor="t")).job
    urgent = (await queue.submit(NewJob(prompt="urgent", priority=5), actor="t")).job
    young = (await queue.submit(NewJob(prompt="young"), actor="t")).job
    order = [await _claim(queue) for _ in range(3)]
    assert [j.id for j in order if j] == [urgent.id, old.id, young.id]
    assert await _claim(queue) is None


async def test_claim_prefers_a_job_whose_employee_is_resident(db: Database) -> None:
    await hire(db, "resident")
    await hire(db, "cold")
    queue = queue_for(db)
    cold = (await queue.submit(NewJob(prompt="a", employee="cold"), actor="t")).job
    warm = (await queue.submit(NewJob(prompt="b", employee="resident"), actor="t")).job
    async with db.connection() as conn:
        await conn.execute("UPDATE pool_slots SET state='idle', employee='resident' WHERE index=0")
    first = await queue.claim("w", 30, 3)
    assert first is not None and first.job.id == warm.id
    assert first.slot.index == 0 and not first.slot.loading  # reused, nothing to load
    second = await queue.claim("w", 30, 3)
    assert second is not None and second.job.id == cold.id and second.slot.loading


async def test_a_job_is_claimed_only_with_a_free_slot(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    for i in range(3):
        await queue.submit(NewJob(prompt=f"job {i}"), actor="t")
    first = await queue.claim("w", 30, 2)
    second = await queue.claim("w", 30, 2)
    assert first is not None and second is not None
    assert {first.slot.index, second.slot.index} == {0, 1}
    assert await queue.claim("w", 30, 2) is None  # two slots, both busy: the third waits
    async with db.connection() as conn:
        counts = dict(await conn.fetch("SELECT status::text, count(*) FROM jobs GROUP BY 1"))
    assert counts == {"running": 2, "queued": 1}
    await queue.start_validating(first.job, first.lease)  # the slot goes back with the move
    third = await queue.claim("w", 30, 2)
    assert third is not None and third.slot.index == first.slot.index


async def test_the_least_recently_used_idle_slot_is_evicted_for_a_new_employee(
    db: Database,
) -> None:
    for name in ("a", "b", "c"):
        await hire(db, name)
    queue = queue_for(db)
    async with db.connection() as conn:
        await conn.execute("UPDATE pool_slots SET state='idle', employee='a', "
                           "last_used_at=now() - interval '1 minute' WHERE index=0")
        await conn.execute("UPDATE pool_slots SET state='idle', employee='b', "
                           "last_used_at=now() WHERE index=1")
    await queue.submit(NewJob(prompt="x", employee="c"), actor="t")
    claim = await queue.claim("w", 30, 2)
    assert claim is not None and claim.slot.index == 0 and claim.slot.evicted == "a"
    assert claim.slot.loading


async def test_a_job_nobody_can_take_fails_with_the_reason(db: Database) -> None:
    queue = queue_for(db)
    orphan = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    assert await queue.claim("w", 30, 3) is None
    failed = await queue.get(orphan.id)
    assert failed.status is JobStatus.FAILED and "hire one first" in (failed.error or "")
    async with db.connection() as conn:
        busy = await conn.fetchval("SELECT count(*) FROM pool_slots WHERE state <> 'empty'")
    assert busy == 0
    assert (await Auditor().verify(db)).ok


async def test_concurrent_workers_never_claim_the_same_job(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    for i in range(20):
        await queue.submit(NewJob(prompt=f"job {i}"), actor="t")

    async def drain(worker: str) -> list[str]:
        got = []
        while (claim := await queue.claim(worker, 30, 3)) is not None:
            got.append(str(claim.job.id))
            await queue.start_validating(claim.job, claim.lease)
        return got

    results = await asyncio.gather(*(drain(f"w{i}") for i in range(4)))
    claimed = [job for batch in results for job in batch]
    assert len(claimed) == 20 and len(set(claimed)) == 20


async def test_expired_lease_returns_job_to_queue_and_frees_its_slot(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x", employee="echo"), actor="t")
    claim = await queue.claim("dead-worker", 0.05, 3)
    assert claim is not None
    job = claim.job
    async with db.connection() as conn:
        await conn.execute("UPDATE pool_slots SET state='busy' WHERE job_id=$1", job.id)
    await asyncio.sleep(0.1)
    rescued = await queue.requeue_expired(actor="rescuer")
    assert [(j.id, j.status) for j in rescued] == [(job.id, JobStatus.QUEUED)]
    async with db.connection() as conn:
        slot = await conn.fetchrow("SELECT state, employee, job_id FROM pool_slots WHERE index=$1",
                                   claim.slot.index)
    assert (slot["state"], slot["employee"], slot["job_id"]) == ("idle", "echo", None)
    again = await _claim(queue, "live-worker")
    assert again is not None and again.id == job.id and again.attempts == 2
    # The dead worker cannot finish what is no longer its job.
    with pytest.raises(Conflict):
        await queue.finish(job, "dead-worker/1", JobStatus.SUCCEEDED, output="late", diff=None,
                           validation=None, error=None)


async def test_live_lease_is_not_rescued(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    assert await _claim(queue) is not None
    assert await queue.requeue_expired(actor="rescuer") == []


async def test_database_refuses_an_illegal_status_move(db: Database) -> None:
    queue = queue_for(db)
    job = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    async with db.connection() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="illegal job transition"):
            await conn.execute("UPDATE jobs SET status = 'succeeded' WHERE id = $1", job.id)


async def test_python_and_database_state_machines_agree_move_by_move(db: Database) -> None:
    """`JOB_TRANSITIONS` and the `jobs_status_guard` trigger allow exactly the same moves."""
    queue = queue_for(db)
    job = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    async with db.connection() as conn:
        for current in JobStatus:
            for target in JobStatus:
                if current is target:
                    continue
                allowed_by_db = True
                try:
                    async with conn.transaction():
                        # The live-event triggers are deferred to commit; ALTER TABLE refuses
                        # a table with pending trigger events, so they fire at once here.
                        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                        await conn.execute("ALTER TABLE jobs DISABLE TRIGGER jobs_status_guard")
                        await conn.execute("UPDATE jobs SET status = $2 WHERE id = $1",
                                           job.id, current.value)
                        await conn.execute("ALTER TABLE jobs ENABLE TRIGGER jobs_status_guard")
                        await conn.execute("UPDATE jobs SET status = $2 WHERE id = $1",
                                           job.id, target.value)
                        raise _Undo
                except _Undo:
                    pass
                except asyncpg.CheckViolationError:
                    allowed_by_db = False
                assert allowed_by_db == (target in JOB_TRANSITIONS[current]), (current, target)


class _Undo(Exception):
    """Rolls a probe's transaction back."""


async def test_the_queue_refuses_an_illegal_move_before_asking_the_database(
    db: Database,
) -> None:
    queue = queue_for(db)
    job = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    with pytest.raises(IllegalTransition, match="a queued job cannot become validating"):
        await queue.start_validating(job, "w/1")


async def test_every_queue_change_keeps_the_audit_chain_intact(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    claim = await queue.claim("w", 30, 3)
    assert claim is not None
    job = await queue.start_validating(claim.job, claim.lease)
    await queue.finish(job, claim.lease, JobStatus.SUCCEEDED, output="ok", diff=None,
                       validation=None, error=None)
    report = await Auditor().verify(db)
    # hire, submit, claim, slot load, validating, slot released, succeeded
    assert report.ok and report.entries == 7


async def test_same_worker_reclaiming_a_rescued_job_cannot_act_for_the_old_attempt(
    db: Database,
) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    first = await _claim(queue, "host:1", 0.05)
    assert first is not None
    await asyncio.sleep(0.1)
    await queue.requeue_expired(actor="rescuer")
    second = await _claim(queue, "host:1")  # the same worker process claims it again
    assert second is not None and second.lease_owner == "host:1/2"
    with pytest.raises(Conflict):
        await queue.finish(first, "host:1/1", JobStatus.SUCCEEDED, output="stale", diff=None,
                           validation=None, error=None)


async def test_a_handed_back_attempt_does_not_count(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x", max_attempts=1), actor="t")
    claim = await queue.claim("w", 30, 3)
    assert claim is not None
    assert await queue.hand_back(claim.job, claim.lease, reason="the worker stopped")
    async with db.connection() as conn:
        busy = await conn.fetchval("SELECT count(*) FROM pool_slots WHERE job_id IS NOT NULL")
    assert busy == 0  # the slot went back with the job
    again = await _claim(queue)
    assert again is not None and again.attempts == 1
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT attempt, outcome FROM job_attempts WHERE job_id = $1",
                                claim.job.id)
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, None)]  # run again as 1


async def test_a_pruned_job_leaves_its_ledger_rows(db: Database) -> None:
    """The ledger is append-only and outlives jobs: pruning a job row must stay possible."""
    await hire(db, "echo")
    queue = queue_for(db)
    job = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    async with db.connection() as conn:
        await conn.execute("INSERT INTO ledger (job_id, employee, kind, latency_ms) "
                           "VALUES ($1, 'echo', 'call', 5)", job.id)
        await conn.execute("INSERT INTO job_runlog (job_id, ts, section) VALUES ($1, now(), 'x')",
                           job.id)
        await conn.execute("DELETE FROM jobs WHERE id = $1", job.id)
        assert await conn.fetchval("SELECT count(*) FROM ledger WHERE job_id = $1", job.id) == 1


async def test_a_worker_declared_dead_claims_nothing_until_it_registers_again(
    db: Database,
) -> None:
    from orchestra.manager import WorkerRegistry

    await hire(db, "echo")
    queue, registry = queue_for(db), WorkerRegistry(db)
    await registry.register("w:1:a", concurrency=3, heartbeat_seconds=0.1)
    await queue.submit(NewJob(prompt="x"), actor="t")
    async with db.connection() as conn:
        await conn.execute("UPDATE workers SET heartbeat_at = now() - interval '1 minute'")
    assert [d.id for d in await registry.declare_dead("w:2:b", actor="t")] == ["w:1:a"]
    assert await queue.claim("w:1:a", 30, 3) is None
    assert await registry.declare_dead("w:1:a", actor="t") == []  # never itself
    await registry.register("w:1:a", concurrency=3, heartbeat_seconds=0.1)
    assert await queue.claim("w:1:a", 30, 3) is not None
