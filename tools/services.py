"""What the tools need from the core, handed over by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from governance.approvals import Approvals
from governance.auditor import Auditor
from governance.budgets import Budgets
from orchestra.consensus import Consensuses
from orchestra.events import JobEvents
from orchestra.pool import Pool
from orchestra.queue import JobQueue
from orchestra.roster import Roster
from orchestra.runlog import RunLogReader
from orchestra.store.db import Database
from orchestra.threads import Threads


@dataclass(frozen=True, slots=True)
class ToolServices:
    queue: JobQueue
    roster: Roster
    pool: Pool
    events: JobEvents
    runlogs: RunLogReader
    auditor: Auditor
    db: Database
    budgets: Budgets
    approvals: Approvals
    consensus: Consensuses
    threads: Threads
