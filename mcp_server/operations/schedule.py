"""The worker's scheduled backup (`AURA_BACKUP_SCHEDULE`, keeping `AURA_BACKUP_KEEP`).

Each scheduled moment is claimed in `backup_runs` (migration 015) by the first worker to reach
it, with an audit entry, so several workers against one database take one backup. A moment
missed while no worker ran is caught up once a worker starts, but only on a database that has
had a scheduled backup before: a new installation does not dump on its first start.

The claim commits before pg_dump runs (a dump takes minutes; no transaction stays open that
long), so how it ended is recorded after, in its own transaction (migration 016): done, or
failed with a `backup.failed` audit entry. A failed claim may be claimed again after
`RETRY_FAILED`, and one neither done nor failed after `STALE_CLAIM` (its worker died mid-dump),
so a failure is retried rather than blocking the moment for every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from governance.auditor import Auditor
from orchestra import backups
from orchestra.schedule import DailySchedule
from orchestra.store.db import Database

log = logging.getLogger("mcp_server.operations.schedule")
LABEL = "scheduled"
# The longest the loop sleeps before looking at the clock again (a suspended host's clock jumps).
RECHECK_S = 300.0

# Long enough for any dump of Aura's database to finish; a claim this old and not done is dead.
STALE_CLAIM = timedelta(hours=1)
# A failing pg_dump (disk full, server down) is retried, but not at every recheck.
RETRY_FAILED = timedelta(minutes=15)

# $3 is the injected clock's now, not the server's, so the ages above are testable.
_CLAIM = """
INSERT INTO backup_runs (due_at, worker, claimed_at) VALUES ($1, $2, $3)
ON CONFLICT (due_at) DO UPDATE
   SET worker = EXCLUDED.worker, claimed_at = EXCLUDED.claimed_at, failed_at = NULL,
       attempts = backup_runs.attempts + 1
 WHERE backup_runs.done_at IS NULL
   AND (backup_runs.failed_at <= $3 - $4::interval
        OR (backup_runs.failed_at IS NULL AND backup_runs.claimed_at <= $3 - $5::interval))
RETURNING attempts
"""
_DONE = "UPDATE backup_runs SET done_at = $3 WHERE due_at = $1 AND worker = $2"
_FAILED = "UPDATE backup_runs SET failed_at = $3 WHERE due_at = $1 AND worker = $2"


@dataclass
class BackupSchedule:
    """One worker's view of the schedule; `tick(now)` takes the backup that is due, if any."""

    db: Database
    auditor: Auditor
    schedule: DailySchedule
    take: Callable[[], Awaitable[Path]]
    worker: str
    backup_dir: Path
    keep: int
    started: datetime

    async def tick(self, now: datetime) -> Path | None:
        due = self.schedule.previous(now)
        async with self.db.transaction() as conn:
            if due < self.started and not await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM backup_runs)"):
                return None
            attempt = await conn.fetchval(_CLAIM, due, self.worker, now, RETRY_FAILED,
                                          STALE_CLAIM)
            if attempt is None:
                return None  # done, or being taken (by this worker or another), or failed lately
            await self.auditor.record(conn, actor="system:backup", action="backup.scheduled",
                                      subject=due.isoformat(),
                                      details={"worker": self.worker, "attempt": attempt})
        try:
            path = await self.take()
        except Exception as exc:
            await self._ended(due, now, _FAILED, "backup.failed",
                              {"worker": self.worker, "attempt": attempt, "error": str(exc)})
            raise
        await self._ended(due, now, _DONE, "backup.completed",
                          {"worker": self.worker, "attempt": attempt, "dump": path.name})
        removed = backups.keep_last(self.backup_dir, LABEL, self.keep)
        log.info("scheduled backup written", extra={"path": str(path),
                                                    "removed": [p.name for p in removed]})
        return path

    async def _ended(self, due: datetime, now: datetime, mark: str, action: str,
                     details: dict[str, object]) -> None:
        """Record how the claimed run ended, with its audit entry, in one transaction. `now`
        is the tick's: the clock is injected, and a dump's minutes do not matter to the ages."""
        async with self.db.transaction() as conn:
            await conn.execute(mark, due, self.worker, now)
            await self.auditor.record(conn, actor="system:backup", action=action,
                                      subject=due.isoformat(), details=details)


async def run(plan: BackupSchedule, stop: asyncio.Event,
              clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Until `stop`: take each due backup, then wait for the next moment."""
    while not stop.is_set():
        try:
            await plan.tick(clock())
        except Exception:
            log.exception("the scheduled backup failed; will try at the next moment")
        now = clock()
        wait = min((plan.schedule.next(now) - now).total_seconds(), RECHECK_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(wait, 1.0))
