"""What the tools need from the core, handed over by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from orchestra.events import JobEvents
from orchestra.pool import Pool
from orchestra.queue import JobQueue
from orchestra.roster import Roster
from orchestra.runlog import RunLogReader


@dataclass(frozen=True, slots=True)
class ToolServices:
    queue: JobQueue
    roster: Roster
    pool: Pool
    events: JobEvents
    runlogs: RunLogReader
