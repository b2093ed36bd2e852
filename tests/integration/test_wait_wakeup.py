"""Waiting for a job (`wait_job`, `ask`) sees it end at once even when it ends while the wait
is between reading the job and waiting for news of it."""

from __future__ import annotations

import asyncio
import time
import uuid

from mcp_server.app import System
from orchestra.models import JobStatus, NewJob
from tests.integration.helpers import hire
from tools.jobs import _wait
from tools.waiting import PROGRESS_EVERY_S


class _EndsTheJobOnProgress:
    """The part of an MCP context `_wait` uses: progress reports. The first report is when the
    job is cancelled elsewhere, and returns only once that change's NOTIFY reached this process:
    the change lands after `_wait` read the job and before it waits."""

    def __init__(self, system: System, job_id: uuid.UUID) -> None:
        self.system, self.job_id, self.reports = system, job_id, 0

    async def report_progress(self, progress: float, total: float | None, message: str) -> None:
        self.reports += 1
        if self.reports > 1:
            return
        with self.system.events.watch(self.job_id) as seen:
            await self.system.queue.cancel(self.job_id, actor="test")
            await asyncio.wait_for(seen.wait(), 5)


async def test_a_job_that_ends_while_progress_is_reported_is_seen_at_once(
    system: System
) -> None:
    await hire(system.db, "idle")  # no worker runs: the job stays queued until cancelled
    job_id = (await system.queue.submit(NewJob(prompt="x", employee="idle"), actor="t")).job.id
    ctx = _EndsTheJobOnProgress(system, job_id)
    started = time.monotonic()

    job = await _wait(system.tools, job_id, 30, ctx)  # type: ignore[arg-type]

    took = time.monotonic() - started
    assert job.status is JobStatus.CANCELLED and ctx.reports == 1
    assert took < PROGRESS_EVERY_S / 2, f"seen {took:.2f}s after it ended"
