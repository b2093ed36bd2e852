"""`/ready` through a database outage, under load.

`aura serve` and a worker run against a PostgreSQL this test owns while three clients submit
jobs over MCP in a loop. The test stops PostgreSQL (`pg_ctl stop -m fast`), watches `/ready` answer
503 while it is down, starts it again and times `/ready` back to 200 (within 5 s). Every
submission that was acknowledged with a job id, before, during or after the outage, is in the
database afterwards; submissions go on being acknowledged after the return, and neither the
server nor the worker exits over the outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from orchestra.store.db import Database
from tests.e2e.conftest import Workers
from tests.e2e.pgcluster import PgCluster, migrated_cluster
from tests.e2e.served import mcp_session, ready_status
from tests.integration.helpers import hire

pytestmark = pytest.mark.e2e

READY_AGAIN_WITHIN_S = 5.0
OUTAGE_S = 3.0
CLIENTS = 3  # submitting at once, each in its own MCP session


@dataclass
class Submissions:
    """What the clients saw: acknowledged job ids, and refused or failed calls."""

    acknowledged: list[str] = field(default_factory=list)
    failures: int = 0


@pytest.fixture
async def cluster() -> AsyncIterator[PgCluster]:
    async with migrated_cluster(["127.0.0.1"]) as server:
        yield server


async def _submit_until(
    group: Workers, stop: asyncio.Event, seen: Submissions, name: str
) -> None:
    """Submit jobs one after another until `stop`; a failed call (database down) is counted
    and the session opened anew, as a client retrying would."""
    i = 0
    while not stop.is_set():
        try:
            async with mcp_session(group) as client:
                while not stop.is_set():
                    i += 1
                    result = await client.call_tool(
                        "submit_job", {"prompt": f"{name} {i}", "employee": "quick"})
                    if result.is_error:
                        seen.failures += 1
                        await asyncio.sleep(0.05)
                        continue
                    seen.acknowledged.append(str((result.structured_content or {})["job_id"]))
        except Exception:
            seen.failures += 1
            await asyncio.sleep(0.1)


async def _until_a_worker_runs(url: str, within_s: float = 60.0) -> None:
    """Wait until the worker process has registered: one that is still starting when the
    database goes away (a loaded machine takes seconds to import it) never gets to run."""
    db = Database(url, min_size=1, max_size=1)
    await db.open()
    try:
        deadline = time.monotonic() + within_s
        while True:
            async with db.connection() as conn:
                if await conn.fetchval("SELECT count(*) FROM workers WHERE status = 'running'"):
                    return
            assert time.monotonic() < deadline, "the worker never registered"
            await asyncio.sleep(0.1)
    finally:
        await db.close()


async def test_ready_follows_the_database_down_and_back_and_loses_no_acknowledged_job(
    cluster: PgCluster, tmp_path: Path
) -> None:
    (tmp_path / "workspace").mkdir()
    group = Workers(tmp_path, cluster.url("aura"))
    db = Database(cluster.url("aura"), min_size=1, max_size=2)
    await db.open()
    try:
        await hire(db, "quick", command=["/bin/sh", "-c", "echo done"])
    finally:
        await db.close()
    stop, seen = asyncio.Event(), Submissions()
    clients: list[asyncio.Task[None]] = []
    try:
        await asyncio.to_thread(group.serve)
        group.start(1)
        clients = [asyncio.create_task(_submit_until(group, stop, seen, f"client{n}"))
                   for n in range(CLIENTS)]
        async with httpx.AsyncClient(timeout=2) as http:
            await _until_acknowledged(seen, 5, clients)
            await _until_a_worker_runs(cluster.url("aura"))
            await asyncio.to_thread(cluster.stop, "fast")
            stopped_at = time.monotonic()
            statuses = []
            while time.monotonic() - stopped_at < OUTAGE_S:
                statuses.append(await ready_status(http, group))
                await asyncio.sleep(0.2)
            await asyncio.to_thread(cluster.start)
            back_at = time.monotonic()
            ready_after = None
            while time.monotonic() - back_at < READY_AGAIN_WITHIN_S + 5:
                if await ready_status(http, group) == 200:
                    ready_after = time.monotonic() - back_at
                    break
                await asyncio.sleep(0.1)
            acknowledged_before = len(seen.acknowledged)
            await _until_acknowledged(seen, acknowledged_before + 5, clients)
        # Neither the server nor the worker gave up while the database was away.
        assert group.server is not None and group.server.poll() is None, group.logs()
        assert group.procs[0].poll() is None, group.logs()
    finally:
        stop.set()
        await asyncio.gather(*clients)
        group.stop_all()

    assert statuses and all(s == 503 for s in statuses), statuses
    assert ready_after is not None and ready_after <= READY_AGAIN_WITHIN_S, (
        ready_after, group.logs())
    ids = seen.acknowledged
    db = Database(cluster.url("aura"), min_size=1, max_size=2)
    await db.open()
    try:
        async with db.connection() as conn:
            stored = await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE id::text = ANY($1::text[])", ids)
    finally:
        await db.close()
    assert stored == len(ids) == len(set(ids))
    assert seen.failures > 0
    print(f"\n/ready 503 x{len(statuses)} during a {OUTAGE_S:.0f}s outage, 200 again "
          f"{ready_after:.2f}s after PostgreSQL was back; {len(ids)} acknowledged jobs all "
          f"stored, {seen.failures} failed submissions during the outage")


async def _until_acknowledged(
    seen: Submissions, count: int, clients: list[asyncio.Task[None]]
) -> None:
    deadline = time.monotonic() + 30
    while len(seen.acknowledged) < count:
        if any(c.done() for c in clients) or time.monotonic() > deadline:
            pytest.fail(f"only {len(seen.acknowledged)} of {count} submissions acknowledged")
        await asyncio.sleep(0.05)
