"""What goes wrong in real life: odd output, lost leases, stops, restarts, concurrent readers."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg

from governance.auditor import Auditor
from mcp_server.app import System
from orchestra.models import JobStatus, NewJob
from orchestra.queue import LEASE_LOSS_GRACE
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, queue_for, running_worker


async def until(predicate: object, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def _claim_and_run(system: System) -> object:
    claim = await system.manager.claim()
    assert claim is not None
    return await system.manager.run_attempt(claim)


async def test_output_with_nul_bytes_is_stored_not_stranded(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "binary", command=["printf", "a\\000b"])
    await system.queue.submit(
        NewJob(prompt="x", employee="binary", project=str(workspace)), actor="t")
    job = await _claim_and_run(system)
    assert job.status is JobStatus.SUCCEEDED  # type: ignore[attr-defined]
    assert job.output == "a\ufffdb"  # type: ignore[attr-defined]


async def test_suspended_employee_fails_the_job_with_a_clear_error(system: System) -> None:
    await hire(system.db, "echo")
    await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")
    async with system.db.connection() as conn:
        await conn.execute("UPDATE employees SET status = 'suspended' WHERE name = 'echo'")
    assert await system.manager.claim() is None  # failed at the claim, no slot taken
    job = (await system.queue.list_jobs())[0]
    assert job.status is JobStatus.FAILED and "suspended" in (job.error or "")
    assert all(s.job_id is None for s in await system.pool.slots())


async def test_diff_is_against_the_project_as_the_job_found_it(
    system: System, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "a.txt").write_text("one\n")
    script = tmp_path / "agent.sh"
    # The agent waits until the Director has edited the real project meanwhile. It is
    # confined, so the signal is in the one host file it sees: its own script.
    script.write_text("#!/bin/sh\nwhile ! grep -q '^# go' \"$0\"; do sleep 0.05; done\n"
                      "echo two >> a.txt\nexit 0\n")
    script.chmod(0o755)
    await hire(system.db, "agent", command=[str(script)])
    submitted = await system.queue.submit(
        NewJob(prompt="x", employee="agent", project=str(workspace)), actor="t")
    claimed = await system.manager.claim()
    assert claimed is not None
    work = asyncio.create_task(system.manager.run_attempt(claimed))
    await asyncio.sleep(0.5)
    (workspace / "b.txt").write_text("the Director's own new file\n")
    with script.open("a") as gate:  # the same file (inode), so the agent sees it
        gate.write("# go\n")
    job = await asyncio.wait_for(work, 15)
    assert job.status is JobStatus.SUCCEEDED
    assert "+two" in (job.diff or "") and "b.txt" not in (job.diff or "")
    # The sandbox is gone once the job is done; the snapshots stay.
    assert not (system.settings.sandbox_dir / str(submitted.job.id)).exists()
    assert (system.settings.snapshot_dir / str(submitted.job.id) / "snapshot.json").exists()
    exported = await system.sandboxes.export(
        submitted.job.id, "after", system.settings.sandbox_dir.parent / "after.tar")
    assert exported.stat().st_size > 0


async def test_stopping_the_worker_hands_a_running_job_back(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "slow", command=["sleep", "30"])
    job = (await system.queue.submit(
        NewJob(prompt="x", employee="slow", project=str(workspace)), actor="t")).job
    loop = asyncio.get_running_loop()
    async with running_worker(system, poll_seconds=0.2):
        await until(lambda: _status_is(system, job.id, JobStatus.RUNNING))
        await asyncio.sleep(0.3)
        stopping = loop.time()
    assert loop.time() - stopping < 5  # did not wait for the 30 s agent
    after = await system.queue.get(job.id)
    assert after.status is JobStatus.QUEUED and after.lease_owner is None
    async with system.db.connection() as conn:
        outcome = await conn.fetchval(
            "SELECT outcome FROM job_attempts WHERE job_id = $1 AND attempt = 1", job.id)
        slots = await conn.fetch("SELECT state FROM pool_slots WHERE job_id IS NOT NULL")
    assert outcome == "interrupted" and slots == []


async def _status_is(system: System, job_id: object, status: JobStatus) -> bool:
    return (await system.queue.get(str(job_id))).status is status


async def test_worker_that_lost_its_lease_stops_without_finishing(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "slow", command=["sleep", "5"])
    job = (await system.queue.submit(
        NewJob(prompt="x", employee="slow", project=str(workspace)), actor="t")).job
    async with running_worker(system, lease_seconds=0.6, poll_seconds=0.2):
        await until(lambda: _status_is(system, job.id, JobStatus.RUNNING))
        async with system.db.connection() as conn:  # another worker rescued and re-leased it
            await conn.execute("UPDATE jobs SET lease_owner = 'other/2' WHERE id = $1", job.id)
        # The next heartbeat finds the lease gone and cuts the work short, without a hand-back.
        await until(lambda: _no_attempt_running(system), timeout=3)
        after = await system.queue.get(job.id)
        assert after.lease_owner == "other/2" and after.status is JobStatus.RUNNING
    async with system.db.connection() as conn:
        handed = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'job.handed_back'")
    assert handed == 0


async def _no_attempt_running(system: System) -> bool:
    return not system.manager._running


async def test_running_worker_rescues_a_dead_workers_job(system: System) -> None:
    await hire(system.db, "echo")
    job = (await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")).job
    dead = await system.queue.claim("dead-worker", 0.2, 3)
    assert dead is not None and dead.job.id == job.id
    async with running_worker(system, lease_seconds=1.5, poll_seconds=0.2):
        await until(lambda: _status_is(system, job.id, JobStatus.SUCCEEDED), timeout=15)
    done = await system.queue.get(job.id)
    assert done.attempts == 2


async def test_a_job_that_keeps_losing_workers_finally_fails(db: object) -> None:
    await hire(db, "echo")  # type: ignore[arg-type]
    queue = queue_for(db)  # type: ignore[arg-type]
    job = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    for _ in range(1 + LEASE_LOSS_GRACE):
        claimed = await queue.claim("doomed", 0.01, 3)
        assert claimed is not None
        await asyncio.sleep(0.05)
        rescued = await queue.requeue_expired(actor="rescuer")
    assert [j.status for j in rescued] == [JobStatus.FAILED]
    assert "lease expired" in (rescued[0].error or "")
    assert (await queue.get(job.id)).status is JobStatus.FAILED


async def test_orphaned_slot_is_freed(system: System) -> None:
    job = (await system.queue.submit(NewJob(prompt="x"), actor="t")).job
    await hire(system.db, "echo")
    async with system.db.connection() as conn:
        await conn.execute(
            "UPDATE pool_slots SET state='loading', employee='echo', job_id=$1 WHERE index=2",
            job.id)  # the job is only queued: nobody is loading anything for it
    await system.pool.free_orphans(actor="test")
    slots = await system.pool.slots()
    assert slots[2].state.value == "empty" and slots[2].job_id is None


async def test_cancelled_load_does_not_leave_the_slot_loading(
    system: System, ollama: FakeOllama
) -> None:
    ollama.load_delay("llama", 3)
    await hire(system.db, "llama", "ollama")
    await system.queue.submit(NewJob(prompt="x", employee="llama"), actor="t")
    claim = await system.manager.claim()
    assert claim is not None and claim.slot.loading
    attempt = asyncio.create_task(
        system.pool.make_resident(claim.slot, "llama", claim.job.id, claim.lease))
    await asyncio.sleep(0.5)
    assert [s.state.value for s in await system.pool.slots()].count("loading") == 1
    attempt.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await attempt
    slots = await system.pool.slots()
    assert all(s.state.value == "empty" and s.job_id is None for s in slots), slots


async def test_verify_holds_while_entries_are_appended(system: System) -> None:
    auditor = Auditor()

    async def writer() -> None:
        for i in range(200):
            async with system.db.connection() as conn:
                await auditor.record(conn, actor="t", action="noise", details={"i": i})

    task = asyncio.create_task(writer())
    reports = []
    while not task.done():
        reports.append(await auditor.verify(system.db))
    await task
    assert reports and all(r.ok for r in reports), [r for r in reports if not r.ok][:1]


async def test_idempotency_key_without_a_client_is_still_one_job(db: object) -> None:
    queue = queue_for(db)  # type: ignore[arg-type]
    new = NewJob(prompt="x", idempotency_key="same")
    first = await queue.submit(new, actor="t")
    second = await queue.submit(new, actor="t")
    assert first.job.id == second.job.id and not second.created


async def test_lost_listen_connection_comes_back(system: System, db_url: str) -> None:
    await hire(system.db, "echo")
    async with running_worker(system, poll_seconds=30):
        admin = await asyncpg.connect(db_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        finally:
            await admin.close()
        await asyncio.sleep(1.5)  # time to reconnect
        job = (await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")).job
        await until(lambda: _status_is(system, job.id, JobStatus.SUCCEEDED), timeout=10)


async def test_a_job_claimed_as_the_stop_comes_is_handed_back(system: System) -> None:
    await hire(system.db, "echo")
    await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")
    claim = await system.manager.claim()
    assert claim is not None
    system.manager._start(claim)
    await system.manager._stop_attempts()  # cancelled before its first step ever ran
    after = await system.queue.get(claim.job.id)
    assert after.status is JobStatus.QUEUED and after.attempts == 0
    assert all(s.job_id is None for s in await system.pool.slots())


async def test_a_newer_attempt_of_the_same_job_stays_watched(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "slow", command=["sleep", "5"])
    job = (await system.queue.submit(
        NewJob(prompt="x", employee="slow", project=str(workspace)), actor="t")).job
    first = await system.manager.claim()
    assert first is not None
    system.manager._start(first)
    await asyncio.sleep(0.3)
    async with system.db.connection() as conn:  # the lease runs out while this worker is away
        await conn.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 second'"
                           " WHERE id = $1", job.id)
    await system.queue.requeue_expired(actor="rescuer")
    second = await system.manager.claim()  # and this worker claims the job again
    assert second is not None and second.job.id == job.id and second.lease != first.lease
    system.manager._start(second)
    await asyncio.sleep(0.5)  # the first attempt was told its lease is lost, and has ended
    watched = system.manager._running.get(job.id)
    assert watched is not None and watched.lease == second.lease
    await system.manager._stop_attempts()
    assert (await system.queue.get(job.id)).status is JobStatus.QUEUED
