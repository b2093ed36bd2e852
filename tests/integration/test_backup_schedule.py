"""The worker's scheduled backup, with the clock given: one backup per scheduled moment across
workers, audited; the newest N kept; no catch-up on a database that never had one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from governance.auditor import Auditor
from mcp_server.operations.schedule import LABEL, BackupSchedule
from mcp_server.operations.tools import pg_tool
from mcp_server.settings import Settings
from orchestra import backups
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
