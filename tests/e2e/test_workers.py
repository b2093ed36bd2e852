"""Several `aura worker` processes against one PostgreSQL, as on several hosts.

Each worker is a real process (`python -m mcp_server.cli worker`) on this test's own database.
While they work, a sampler reads the jobs and slots in one statement every few milliseconds:
never more `running` jobs than slots, never a running job without a slot, never more than
three slots taken. Afterwards the audit log says in which order jobs were claimed and how
often each finished.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from orchestra.models import NewJob
from orchestra.store.db import Database
from tests.e2e.conftest import HEARTBEAT_S, STOP_WITHIN_S, Workers
from tests.integration.helpers import hire, queue_for

pytestmark = pytest.mark.e2e


@dataclass
class Invariants:
    """What the sampler saw: the most running jobs and taken slots at any one moment."""

    samples: int = 0
    max_running: int = 0
    max_taken_slots: int = 0
    violations: list[str] = field(default_factory=list)


SAMPLE = """
SELECT (SELECT count(*) FROM jobs WHERE status = 'running') AS running,
       (SELECT count(*) FROM pool_slots WHERE state IN ('busy', 'loading')) AS taken,
       (SELECT count(*) FROM jobs j WHERE j.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM pool_slots s WHERE s.job_id = j.id)) AS slotless
"""


async def _sample(db_url: str, stop: asyncio.Event, seen: Invariants) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        while not stop.is_set():
            row = await conn.fetchrow(SAMPLE)  # one statement: one consistent snapshot
            seen.samples += 1
            seen.max_running = max(seen.max_running, row["running"])
            seen.max_taken_slots = max(seen.max_taken_slots, row["taken"])
            if row["running"] > 3 or row["taken"] > 3 or row["slotless"]:
                seen.violations.append(dict(row).__repr__())
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


async def _submit(db: Database, count: int, seconds: float, seed: int) -> None:
    await hire(db, "sleeper", command=["/bin/sh", "-c", f"sleep {seconds}; echo done"])
    rng = random.Random(seed)
    queue = queue_for(db)
    for i in range(count):
        await queue.submit(NewJob(prompt=f"job {i}", priority=rng.randint(-3, 3)), actor="t")


async def _until(predicate: object, timeout: float, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        if any(p.poll() is not None for p in workers.procs if p.returncode != -9):
            exited = [p.returncode for p in workers.procs if p.poll() is not None]
            if any(code not in (None, -9) for code in exited):
                pytest.fail(f"a worker exited ({exited}):\n{workers.logs()}")
        await asyncio.sleep(0.05)
    pytest.fail(f"condition not met within {timeout}s:\n{workers.logs()}")


async def _count(db: Database, sql: str, *args: object) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval(sql, *args))


async def _all_done(db: Database, count: int) -> bool:
    return await _count(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == count


@pytest.mark.parametrize("worker_count", [2, 3])
async def test_workers_share_three_slots_in_priority_order_and_finish_each_job_once(
    workers: Workers, db: Database, db_url: str, worker_count: int
) -> None:
    await _submit(db, 60, 0.15, seed=worker_count)
    stop, seen = asyncio.Event(), Invariants()
    sampler = asyncio.create_task(_sample(db_url, stop, seen))
    workers.start(worker_count)
    try:
        await _until(lambda: _all_done(db, 60), 90, workers)
    finally:
        stop.set()
        await sampler
    assert not seen.violations, seen.violations[:5]
    assert seen.max_running == 3 and seen.max_taken_slots == 3, seen
    async with db.connection() as conn:
        claims = await conn.fetch(
            "SELECT j.priority, j.created_at, a.actor FROM audit_log a"
            " JOIN jobs j ON j.id::text = a.subject WHERE a.action = 'job.claimed' ORDER BY a.seq")
        finished = await conn.fetch(
            "SELECT subject, count(*) AS n FROM audit_log WHERE action = 'job.succeeded'"
            " GROUP BY subject")
        attempts = await conn.fetchval("SELECT max(attempts) FROM jobs")
        claimants = await conn.fetchval(
            "SELECT count(DISTINCT split_part(lease_owner, '/', 1)) FROM jobs")
        # Each job's run log reached the database from whichever worker ran it, so any host
        # serving `wait_job` or the run-log resource can read it.
        logged = await conn.fetchval(
            "SELECT count(DISTINCT job_id) FROM job_runlog WHERE section = 'FINISHED succeeded'")
    order = [(-r["priority"], r["created_at"]) for r in claims]
    assert order == sorted(order)  # every claim took the best job waiting
    assert len(claims) == 60 and attempts == 1
    assert len(finished) == 60 and all(r["n"] == 1 for r in finished)
    assert claimants == 0  # every lease was given up
    assert logged == 60
    workers_that_claimed = {r["actor"].split("/")[0] for r in claims}
    assert len(workers_that_claimed) == worker_count, workers_that_claimed
    print(f"\n{worker_count} workers: {seen.samples} samples, max running {seen.max_running}")


async def test_a_killed_worker_is_declared_dead_and_loses_no_job(
    workers: Workers, db: Database, db_url: str
) -> None:
    await _submit(db, 24, 1.0, seed=7)
    stop, seen = asyncio.Event(), Invariants()
    sampler = asyncio.create_task(_sample(db_url, stop, seen))
    workers.start(3)
    victim = workers.procs[0]
    try:
        await _until(lambda: _holds_a_job(db, victim.pid), 30, workers)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        async with db.connection() as conn:
            killed_at = await conn.fetchval("SELECT clock_timestamp()")
            victim_id = await conn.fetchval(
                "SELECT id FROM workers WHERE pid = $1", victim.pid)
            held = await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE status IN ('running', 'validating')"
                " AND split_part(lease_owner, '/', 1) = $1", victim_id)
        await _until(lambda: _all_done(db, 24), 90, workers)
    finally:
        stop.set()
        await sampler
    assert held >= 1
    async with db.connection() as conn:
        row = await conn.fetchrow(
            "SELECT status, heartbeat_at, stopped_at FROM workers WHERE id = $1", victim_id)
        rescued = await conn.fetch(
            "SELECT error FROM job_attempts WHERE outcome = 'lost'")
        finished = await conn.fetch(
            "SELECT subject, count(*) AS n FROM audit_log WHERE action = 'job.succeeded'"
            " GROUP BY subject")
    assert row["status"] == "dead"
    silent = (row["stopped_at"] - row["heartbeat_at"]).total_seconds()
    after_kill = (row["stopped_at"] - killed_at).total_seconds()
    # Dead after three silent heartbeats, noticed by a peer's rescue pass (every half beat).
    # The slack is for a loaded 2-core machine; a threshold of five beats would still fail this.
    slack_s = min(1.0, HEARTBEAT_S)
    assert silent <= 3.5 * HEARTBEAT_S + slack_s, silent
    assert after_kill <= 3.5 * HEARTBEAT_S + slack_s, after_kill
    # A claim the victim had sent just before the kill may still commit after it: that job is
    # the victim's too, and rescued like the others.
    assert len(rescued) >= held
    assert all(f"worker {victim_id} was declared dead" in r["error"] for r in rescued)
    assert len(finished) == 24 and all(r["n"] == 1 for r in finished)
    assert not seen.violations, seen.violations[:5]
    print(f"\nkilled worker declared dead {after_kill:.2f}s after the kill "
          f"({silent:.2f}s after its last heartbeat); {held} job(s) rescued")


async def _holds_a_job(db: Database, pid: int) -> bool:
    return await _count(
        db, "SELECT count(*) FROM jobs j JOIN workers w ON w.id = split_part(j.lease_owner,"
        " '/', 1) WHERE w.pid = $1 AND j.status = 'running'", pid) > 0


async def test_stopping_a_worker_with_three_busy_slots_hands_the_jobs_back_quickly(
    workers: Workers, db: Database
) -> None:
    await _submit(db, 3, 60, seed=1)
    workers.start(1)
    await _until(lambda: _running(db, 3), 30, workers)
    proc = workers.procs[0]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=STOP_WITHIN_S + 5)
    took = time.monotonic() - started
    assert code == 0, workers.logs()
    assert took < STOP_WITHIN_S, took
    async with db.connection() as conn:
        statuses = await conn.fetch("SELECT status::text, attempts FROM jobs")
        taken = await conn.fetchval("SELECT count(*) FROM pool_slots WHERE job_id IS NOT NULL")
        worker = await conn.fetchval("SELECT status FROM workers")
    assert [(r["status"], r["attempts"]) for r in statuses] == [("queued", 0)] * 3
    assert taken == 0 and worker == "stopped"
    print(f"\nSIGTERM with three busy slots: exited in {took:.2f}s")


async def _running(db: Database, count: int) -> bool:
    return await _count(db, "SELECT count(*) FROM jobs WHERE status = 'running'") == count


def _large_plain_project(root: Path, files: int = 120, size: int = 1 << 20) -> Path:
    """A directory (not a git repository) of `files` incompressible files of `size` bytes:
    preparing a copy of it cannot be instant, so a stop lands while jobs prepare."""
    for i in range(files):
        folder = root / f"part{i % 8}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"blob{i}.bin").write_bytes(os.urandom(size))
    (root / "README.md").write_text("a large project\n")
    return root


async def test_stopping_while_three_jobs_prepare_sandboxes_of_a_large_project(
    workers: Workers, db: Database
) -> None:
    projects = [_large_plain_project(workers.root / "workspace" / f"big{i}") for i in range(3)]
    await hire(db, "quick", command=["/bin/sh", "-c", "echo done"])
    queue = queue_for(db, workers.root / "workspace")
    for project in projects:
        await queue.submit(NewJob(prompt="x", project=str(project)), actor="t")
    workers.start(1)
    await _until(lambda: _running(db, 3), 60, workers)
    await asyncio.sleep(0.3)  # well inside the preparation of three 120 MB projects
    async with db.connection() as conn:
        preparing = await conn.fetchval(
            "SELECT count(*) FROM jobs WHERE status = 'running'")
    proc = workers.procs[0]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    took = time.monotonic() - started
    assert code == 0, workers.logs()
    assert took < STOP_WITHIN_S, took
    assert preparing == 3
    async with db.connection() as conn:
        statuses = await conn.fetch("SELECT status::text, attempts FROM jobs")
    assert [(r["status"], r["attempts"]) for r in statuses] == [("queued", 0)] * 3
    # No half-made working copy is left behind.
    sandboxes = workers.root / "sandboxes"
    assert not sandboxes.exists() or not any(sandboxes.iterdir()), list(sandboxes.iterdir())
    print(f"\nSIGTERM while three jobs prepare 120 MB projects: exited in {took:.2f}s")
