"""Cancelling jobs: queued at once, running within seconds with nothing left behind,
finished ones untouched; over MCP only the submitting client may."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

from mcp.client.client import Client

from mcp_server.app import System
from orchestra.models import JobStatus, NewJob
from tests.integration.helpers import hire, running_worker


async def _actions(system: System, job_id: uuid.UUID) -> list[str]:
    async with system.db.connection() as conn:
        rows = await conn.fetch("SELECT action FROM audit_log WHERE subject = $1 ORDER BY seq",
                                str(job_id))
    return [r["action"] for r in rows]


async def test_a_queued_job_is_cancelled_at_once_and_audited(system: System) -> None:
    job = (await system.queue.submit(NewJob(prompt="x"), actor="t")).job
    cancelled = await system.queue.cancel(job.id, actor="director")
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at is not None
    assert await _actions(system, job.id) == ["job.submitted", "job.cancelled"]
    again = await system.queue.cancel(job.id, actor="director")  # idempotent
    assert again.status is JobStatus.CANCELLED
    assert await _actions(system, job.id) == ["job.submitted", "job.cancelled"]


async def test_a_finished_job_is_left_as_it_is(system: System) -> None:
    await hire(system.db, "echo")
    job = (await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")).job
    async with running_worker(system, poll_seconds=0.2):
        for _ in range(200):
            if (await system.queue.get(job.id)).status.is_terminal:
                break
            await asyncio.sleep(0.02)
    after = await system.queue.cancel(job.id, actor="director")
    assert after.status is JobStatus.SUCCEEDED
    assert "job.cancelled" not in await _actions(system, job.id)


def _alive(marker: str) -> bool:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return bool(found.stdout.strip())


async def test_a_running_job_stops_within_seconds_and_leaves_no_process(
    system: System, workspace: Path
) -> None:
    marker = f"aura-cancel-{uuid.uuid4().hex[:8]}"
    await hire(system.db, "sleeper", command=["sh", "-c", f"exec sleep 60 # {marker}"])
    job = (await system.queue.submit(
        NewJob(prompt="x", employee="sleeper", project=str(workspace)), actor="t")).job
    async with running_worker(system, poll_seconds=0.2):
        for _ in range(200):
            if _alive(marker):
                break
            await asyncio.sleep(0.05)
        assert _alive(marker)
        started = time.monotonic()
        cancelled = await system.queue.cancel(job.id, actor="director")
        assert cancelled.status is JobStatus.CANCELLED
        for _ in range(100):  # five seconds at most
            if not _alive(marker):
                break
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        assert not _alive(marker) and took < 5, took
        await asyncio.sleep(0.3)
        assert not system.manager._running  # the attempt is over
        assert (await system.queue.get(job.id)).status is JobStatus.CANCELLED
    assert all(s.job_id is None for s in await system.pool.slots())
    assert "job.handed_back" not in await _actions(system, job.id)
    assert not (system.settings.sandbox_dir / str(job.id)).exists()  # its copy is gone


async def test_over_mcp_only_the_submitting_client_may_cancel(system: System) -> None:
    theirs = (await system.queue.submit(NewJob(prompt="x", client="other-ide"), actor="t")).job
    async with Client(system.mcp_server()) as client:
        mine = await client.call_tool("submit_job", {"prompt": "mine"})
        mine_id = (mine.structured_content or {})["job_id"]
        refused = await client.call_tool("cancel_job", {"job_id": str(theirs.id)})
        done = await client.call_tool("cancel_job", {"job_id": mine_id})
    assert refused.is_error and "another client" in str(refused.content)
    assert not done.is_error and (done.structured_content or {})["status"] == "cancelled"
    assert (await system.queue.get(theirs.id)).status is JobStatus.QUEUED
