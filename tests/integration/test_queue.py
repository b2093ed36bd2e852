"""Submitting, claiming, leasing and rescuing jobs against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from governance.auditor import Auditor
from orchestra.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestra.models import JobKind, JobStatus, NewJob
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


async def test_claim_prefers_priority_then_age(db: Database) -> None:
    queue = queue_for(db)
    old = (await queue.submit(NewJob(prompt="old"), actor="t")).job
    urgent = (await queue.submit(NewJob(prompt="urgent", priority=5), actor="t")).job
    young = (await queue.submit(NewJob(prompt="young"), actor="t")).job
    order = [(await queue.claim("w", 30)) for _ in range(3)]
    assert [j.id for j in order if j] == [urgent.id, old.id, young.id]
    assert await queue.claim("w", 30) is None


async def test_claim_prefers_a_job_whose_employee_is_resident(db: Database) -> None:
    await hire(db, "resident")
    await hire(db, "cold")
    queue = queue_for(db)
    cold = (await queue.submit(NewJob(prompt="a", employee="cold"), actor="t")).job
    warm = (await queue.submit(NewJob(prompt="b", employee="resident"), actor="t")).job
    async with db.connection() as conn:
        await conn.execute("UPDATE pool_slots SET state='idle', employee='resident' WHERE index=0")
    assert (await queue.claim("w", 30)).id == warm.id  # type: ignore[union-attr]
    assert (await queue.claim("w", 30)).id == cold.id  # type: ignore[union-attr]


async def test_concurrent_workers_never_claim_the_same_job(db: Database) -> None:
    queue = queue_for(db)
    for i in range(20):
        await queue.submit(NewJob(prompt=f"job {i}"), actor="t")

    async def drain(worker: str) -> list[str]:
        got = []
        while (job := await queue.claim(worker, 30)) is not None:
            got.append(str(job.id))
        return got

    results = await asyncio.gather(*(drain(f"w{i}") for i in range(4)))
    claimed = [job for batch in results for job in batch]
    assert len(claimed) == 20 and len(set(claimed)) == 20


async def test_heartbeat_extends_only_the_owners_lease(db: Database) -> None:
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    job = await queue.claim("owner", 30)
    assert job is not None and job.lease_owner == "owner/1"  # a lease per claim
    assert await queue.heartbeat(job.id, job.lease_owner, 30)
    assert not await queue.heartbeat(job.id, "intruder/1", 30)
    assert not await queue.heartbeat(job.id, "owner", 30)


async def test_expired_lease_returns_job_to_queue_and_frees_its_slot(db: Database) -> None:
    await hire(db, "echo")
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x", employee="echo"), actor="t")
    job = await queue.claim("dead-worker", 0.05)
    assert job is not None
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE pool_slots SET state='busy', employee='echo', job_id=$1 WHERE index=1", job.id
        )
    await asyncio.sleep(0.1)
    rescued = await queue.requeue_expired(actor="rescuer")
    assert [(j.id, j.status) for j in rescued] == [(job.id, JobStatus.QUEUED)]
    async with db.connection() as conn:
        slot = await conn.fetchrow("SELECT state, employee, job_id FROM pool_slots WHERE index=1")
    assert (slot["state"], slot["employee"], slot["job_id"]) == ("idle", "echo", None)
    again = await queue.claim("live-worker", 30)
    assert again is not None and again.id == job.id and again.attempts == 2
    # The dead worker cannot finish what is no longer its job.
    with pytest.raises(Conflict):
        await queue.finish(job, "dead-worker/1", JobStatus.SUCCEEDED, output="late", diff=None,
                           validation=None, error=None)


async def test_live_lease_is_not_rescued(db: Database) -> None:
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    assert await queue.claim("w", 30) is not None
    assert await queue.requeue_expired(actor="rescuer") == []


async def test_database_refuses_an_illegal_status_move(db: Database) -> None:
    queue = queue_for(db)
    job = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    async with db.connection() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="illegal job transition"):
            await conn.execute("UPDATE jobs SET status = 'succeeded' WHERE id = $1", job.id)


async def test_every_queue_change_keeps_the_audit_chain_intact(db: Database) -> None:
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    job = await queue.claim("w", 30)
    assert job is not None
    job = await queue.start_validating(job, "w/1")
    await queue.finish(job, "w/1", JobStatus.SUCCEEDED, output="ok", diff=None, validation=None,
                       error=None)
    report = await Auditor().verify(db)
    assert report.ok and report.entries == 4


async def test_same_worker_reclaiming_a_rescued_job_cannot_act_for_the_old_attempt(
    db: Database,
) -> None:
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x"), actor="t")
    first = await queue.claim("host:1", 0.05)
    assert first is not None
    await asyncio.sleep(0.1)
    await queue.requeue_expired(actor="rescuer")
    second = await queue.claim("host:1", 30)  # the same worker process claims it again
    assert second is not None and second.lease_owner == "host:1/2"
    assert not await queue.heartbeat(first.id, "host:1/1", 30)
    with pytest.raises(Conflict):
        await queue.finish(first, "host:1/1", JobStatus.SUCCEEDED, output="stale", diff=None,
                           validation=None, error=None)


async def test_a_handed_back_attempt_does_not_count(db: Database) -> None:
    queue = queue_for(db)
    await queue.submit(NewJob(prompt="x", max_attempts=1), actor="t")
    job = await queue.claim("w", 30)
    assert job is not None and job.lease_owner is not None
    assert await queue.hand_back(job, job.lease_owner, reason="the worker stopped")
    again = await queue.claim("w", 30)
    assert again is not None and again.attempts == 1
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT attempt, outcome FROM job_attempts WHERE job_id = $1",
                                job.id)
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, None)]  # run again as 1
