"""The worker's scheduled backup, with the clock given: one backup per scheduled moment across
workers, audited; the newest N kept; no catch-up on a database that never had one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from governance.auditor import Auditor
from mcp_server.operations.schedule import LABEL, RETRY_FAILED, STALE_CLAIM, BackupSchedule
from mcp_server.operations.tools import pg_tool
from mcp_server.settings import Settings
from orchestra import backups
from orchestra.errors import Unavailable
from orchestra.schedule import parse_schedule
from orchestra.store.db import Database

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _worker(db: Database, settings: Settings, name: str, keep: int = 2) -> BackupSchedule:
    schedule = parse_schedule("daily@03:00", "UTC")
    assert schedule is not None

    async def take() -> Path:
        return (await backups.backup(db.dsn, settings.backup_dir, pg_tool("pg_dump"),
                                     label=LABEL))[0]

    return BackupSchedule(db=db, auditor=Auditor(), schedule=schedule, take=take, worker=name,
                          backup_dir=settings.backup_dir, keep=keep, started=START)


async def test_each_moment_is_backed_up_once_across_workers_keeping_the_newest(
    db: Database, settings: Settings
) -> None:
    one, two = _worker(db, settings, "one"), _worker(db, settings, "two")
    # Started after today's 03:00 on a database that never had a scheduled backup: none yet.
    assert await one.tick(START) is None
    days = [START.replace(hour=3) + timedelta(days=d) for d in (1, 2, 3)]
    for day in days:
        taken = await one.tick(day + timedelta(seconds=1))
        assert taken is not None and taken.exists()
        assert await two.tick(day + timedelta(minutes=5)) is None  # claimed by `one`
        assert await one.tick(day + timedelta(hours=1)) is None  # and only once
    assert len([b for b in backups.list_backups(settings.backup_dir)
                if b.label == LABEL]) == 2
    async with db.connection() as conn:
        claims = await conn.fetch("SELECT due_at, worker FROM backup_runs ORDER BY due_at")
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'backup.scheduled'")
    assert [(c["due_at"], c["worker"]) for c in claims] == [(d, "one") for d in days]
    assert audited == 3


async def test_a_missed_moment_is_caught_up_once_backups_have_run_before(
    db: Database, settings: Settings
) -> None:
    first = _worker(db, settings, "one")
    assert await first.tick(START.replace(hour=3) + timedelta(days=1)) is not None
    # A worker started days later (the host was off at 03:00) takes the latest missed one.
    later = START + timedelta(days=5)
    restarted = BackupSchedule(**{**first.__dict__, "started": later})
    assert await restarted.tick(later) is not None
    assert await restarted.tick(later + timedelta(hours=1)) is None


def _failing(worker: BackupSchedule, error: BaseException) -> BackupSchedule:
    async def take() -> Path:
        raise error

    return BackupSchedule(**{**worker.__dict__, "take": take})


async def _outcomes(db: Database) -> list[tuple[str, str]]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT action, details FROM audit_log WHERE action LIKE "
                                "'backup.%' ORDER BY seq")
    return [(r["action"], r["details"].get("worker")) for r in rows]


async def test_a_failed_backup_is_audited_and_retried_not_blocking_the_day(
    db: Database, settings: Settings
) -> None:
    one, two = _worker(db, settings, "one"), _worker(db, settings, "two")
    due = START.replace(hour=3) + timedelta(days=1)
    with pytest.raises(Unavailable, match="disk full"):
        await _failing(one, Unavailable("pg_dump failed (1): disk full")).tick(due)
    assert await _outcomes(db) == [("backup.scheduled", "one"), ("backup.failed", "one")]
    # Not at every recheck, but once RETRY_FAILED has passed, by any worker.
    assert await two.tick(due + RETRY_FAILED - timedelta(seconds=1)) is None
    taken = await two.tick(due + RETRY_FAILED)
    assert taken is not None and taken.exists()
    assert await one.tick(due + timedelta(hours=5)) is None  # done: once is enough
    async with db.connection() as conn:
        run = await conn.fetchrow("SELECT worker, attempts, done_at, failed_at FROM backup_runs")
    assert (run["worker"], run["attempts"], run["failed_at"]) == ("two", 2, None)
    assert run["done_at"] == due + RETRY_FAILED
    assert (await _outcomes(db))[2:] == [("backup.scheduled", "two"),
                                         ("backup.completed", "two")]


async def test_a_claim_whose_worker_died_mid_dump_is_taken_again_once_stale(
    db: Database, settings: Settings
) -> None:
    one, two = _worker(db, settings, "one"), _worker(db, settings, "two")
    due = START.replace(hour=3) + timedelta(days=1)
    # Cancelled mid-dump (the worker stopped): nothing records an outcome.
    with pytest.raises(asyncio.CancelledError):
        await _failing(one, asyncio.CancelledError()).tick(due)
    assert await two.tick(due + STALE_CLAIM - timedelta(seconds=1)) is None  # may still run
    taken = await two.tick(due + STALE_CLAIM)
    assert taken is not None and taken.exists()
    assert [a for a, _ in await _outcomes(db)] == [
        "backup.scheduled", "backup.scheduled", "backup.completed"]
