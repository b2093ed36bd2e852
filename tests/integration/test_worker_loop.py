"""The worker loop as it runs in `aura up`: NOTIFY wake-ups, heartbeats, no held transactions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from mcp_server.app import System
from orchestra.models import JobStatus, NewJob
from tests.integration.helpers import hire, running_worker


async def _wait_terminal(system: System, job_id: object, timeout: float) -> JobStatus:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        job = await system.queue.get(str(job_id))
        if job.status.is_terminal:
            return job.status
        await asyncio.sleep(0.02)
    return (await system.queue.get(str(job_id))).status


async def test_an_idle_worker_wakes_on_notify_not_on_its_poll(system: System) -> None:
    await hire(system.db, "echo", command=["echo", "hi"])
    async with running_worker(system, poll_seconds=30):
        await asyncio.sleep(0.3)  # the worker has looked once and is now waiting
        loop = asyncio.get_running_loop()
        started = loop.time()
        job = (await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")).job
        status = await _wait_terminal(system, job.id, 10)
        assert status is JobStatus.SUCCEEDED
        assert loop.time() - started < 5  # far sooner than the 30 s poll


async def test_heartbeat_keeps_a_long_job_from_being_rescued(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "slow", command=["sleep", "2"])
    async with running_worker(system, lease_seconds=0.6, poll_seconds=0.2):
        job = (await system.queue.submit(
            NewJob(prompt="x", employee="slow", project=str(workspace)), actor="t")).job
        assert await _wait_terminal(system, job.id, 15) is JobStatus.SUCCEEDED
    done = await system.queue.get(job.id)
    assert done.attempts == 1  # never lost its lease, never claimed twice
    async with system.db.connection() as conn:
        rescued = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'job.lease_expired'")
    assert rescued == 0


async def test_no_transaction_is_open_while_an_employee_works(
    system: System, workspace: Path, db_url: str
) -> None:
    await hire(system.db, "thinker", command=["sleep", "1.5"])
    watcher = await asyncpg.connect(db_url)
    try:
        async with running_worker(system, poll_seconds=0.2):
            job = (await system.queue.submit(
                NewJob(prompt="x", employee="thinker", project=str(workspace)), actor="t")).job
            seen_running = False
            for _ in range(60):
                if (await system.queue.get(job.id)).employee == "thinker":
                    seen_running = True
                    # Short transactions (the lease rescue, a heartbeat) come and go; one held
                    # across the employee's 1.5 s of work would be older than half a second.
                    open_tx = await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND state <> 'idle'"
                        " AND xact_start < clock_timestamp() - interval '0.5 seconds'")
                    assert open_tx == 0
                await asyncio.sleep(0.05)
            assert seen_running
            assert await _wait_terminal(system, job.id, 10) is JobStatus.SUCCEEDED
    finally:
        await watcher.close()


async def test_the_feed_tells_of_jobs_starting_finishing_and_being_handed_back(
    system: System, workspace: Path, caplog: object
) -> None:
    import logging

    import pytest

    assert isinstance(caplog, pytest.LogCaptureFixture)
    caplog.set_level(logging.INFO, logger="orchestra")
    await hire(system.db, "echo", command=["echo", "hi"])
    await hire(system.db, "slow", command=["sleep", "30"])
    async with running_worker(system, poll_seconds=0.2):
        done = (await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")).job
        assert await _wait_terminal(system, done.id, 10) is JobStatus.SUCCEEDED
        stuck = (await system.queue.submit(NewJob(prompt="x", employee="slow"), actor="t")).job
        for _ in range(100):
            if (await system.queue.get(stuck.id)).status is JobStatus.RUNNING:
                break
            await asyncio.sleep(0.05)
    events = [(r.__dict__.get("event"), r.getMessage()) for r in caplog.records
              if r.__dict__.get("event")]
    short = str(done.id)[:8]
    assert ("job.started", f"job {short} started: echo in slot 0") in events
    assert any(e == "job.succeeded" and m.startswith(f"job {short} succeeded in ")
               for e, m in events)
    assert ("job.handed_back",
            f"job {str(stuck.id)[:8]} handed back: the worker stopped; queued again") in events
    assert any(e == "pool.loaded" for e, _ in events)
