"""Run logs reach PostgreSQL, so any host can read them; the file stays the worker's copy."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from mcp.client.client import Client

from mcp_server.app import System
from orchestra.models import NewJob
from orchestra.runlog import MAX_SHIPPED_CHARS_PER_JOB, RunLog, RunLogReader, RunLogShipper
from orchestra.store.db import Database
from tests.integration.helpers import hire, running_worker


async def _job(db: Database) -> uuid.UUID:
    async with db.connection() as conn:
        return await conn.fetchval(  # type: ignore[no-any-return]
            "INSERT INTO jobs (kind, prompt) VALUES ('task', 'x') RETURNING id")


async def test_entries_reach_the_database_in_order_nul_and_all(
    db: Database, tmp_path: Path
) -> None:
    job = await _job(db)
    shipper = RunLogShipper(db, host="h1")
    log = RunLog(tmp_path / "runlog.txt", sink=shipper.sink_for(job))
    log.write("FIRST", "one")
    log.write("SECOND", "two\x00three")
    await shipper.flush()
    text = await RunLogReader(db).text(job)
    assert text == (tmp_path / "runlog.txt").read_text().replace("\x00", "\ufffd")
    assert text.index("FIRST") < text.index("SECOND")
    assert await RunLogReader(db).last_line(job) == "two\ufffdthree"


async def test_a_job_ships_at_most_its_budget_and_says_where_the_rest_is(
    db: Database, tmp_path: Path
) -> None:
    job = await _job(db)
    shipper = RunLogShipper(db, host="worker-host")
    log = RunLog(tmp_path / "runlog.txt", sink=shipper.sink_for(job))
    chunk = "x" * (MAX_SHIPPED_CHARS_PER_JOB // 3)
    for _ in range(5):
        log.write("STDOUT", chunk)
    await shipper.flush()
    text = await RunLogReader(db).text(job)
    assert len(text) < MAX_SHIPPED_CHARS_PER_JOB + 10_000
    assert "runlog.txt on worker host worker-host" in text
    assert text.count("STDOUT") == 5  # the headers still arrive, in order
    assert len((tmp_path / "runlog.txt").read_text()) > 5 * len(chunk)  # the file has it all


async def test_the_runlog_resource_reads_the_database_not_the_local_disk(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "talker", command=["sh", "-c", "echo from-the-worker"])
    job = (await system.queue.submit(NewJob(prompt="x", employee="talker"), actor="t")).job
    async with running_worker(system, poll_seconds=0.2):
        done = await _wait_terminal(system, job.id)
    assert done
    # As if the serving process ran on another host: no snapshot directory at all here.
    shutil.rmtree(system.settings.snapshot_dir, ignore_errors=True)
    async with Client(system.mcp_server()) as client:
        result = await client.read_resource(f"aura://jobs/{job.id}/runlog")
    text = result.contents[0].text  # type: ignore[union-attr]
    assert "from-the-worker" in text and "FINISHED succeeded" in text


async def _wait_terminal(system: System, job_id: uuid.UUID) -> bool:
    import asyncio

    for _ in range(200):
        if (await system.queue.get(job_id)).status.is_terminal:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_an_unpaired_surrogate_does_not_stop_the_run_log(
    db: Database, tmp_path: Path
) -> None:
    job = await _job(db)
    shipper = RunLogShipper(db, host="h")
    sink = shipper.sink_for(job)
    from datetime import UTC, datetime

    from orchestra.runlog import RunLogEntry

    sink(RunLogEntry(datetime.now(UTC), "REPLY", "half a pair: \ud83d and on"))
    sink(RunLogEntry(datetime.now(UTC), "LATER", "still shipped"))
    await shipper.flush()
    text = await RunLogReader(db).text(job)
    assert "half a pair: ? and on" in text and "still shipped" in text
