"""The worker's scheduled backup (`AURA_BACKUP_SCHEDULE`, keeping `AURA_BACKUP_KEEP`).

Each scheduled moment is claimed in `backup_runs` (migration 015) by the first worker to reach
it, with an audit entry, so several workers against one database take one backup. A moment
missed while no worker ran is caught up once a worker starts, but only on a database that has
had a scheduled backup before: a new installation does not dump on its first start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from governance.auditor import Auditor
from orchestra import backups
from orchestra.schedule import DailySchedule
from orchestra.store.db import Database

log = logging.getLogger("mcp_server.operations.schedule")
LABEL = "scheduled"
# The longest the loop sleeps before looking at the clock again (a suspended host's clock jumps).
RECHECK_S = 300.0

_CLAIM = """
INSERT INTO backup_runs (due_at, worker) VALUES ($1, $2)
ON CONFLICT (due_at) DO NOTHING RETURNING due_at
"""


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
            claimed = await conn.fetchval(_CLAIM, due, self.worker)
            if claimed is None:
                return None  # taken already, by this worker or another
            await self.auditor.record(conn, actor="system:backup", action="backup.scheduled",
                                      subject=due.isoformat(), details={"worker": self.worker})
        path = await self.take()
        removed = backups.keep_last(self.backup_dir, LABEL, self.keep)
        log.info("scheduled backup written", extra={"path": str(path),
                                                    "removed": [p.name for p in removed]})
        return path


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
