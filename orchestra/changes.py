"""Applying a succeeded job's change to the Director's project, audited.

The files are written by `Sandboxes.apply` (only when nothing the change touches moved since the
job began); this adds the rules around it: which jobs may be applied, one apply per project at a
time across every process (an advisory lock held while writing), and the audit entry, written
in the transaction that holds the lock once the files are in place.
"""

from __future__ import annotations

from pathlib import Path

from orchestra.errors import Conflict, InvalidInput
from orchestra.hooks import AuditTrail
from orchestra.models import Job, JobStatus
from orchestra.sandbox import Sandboxes
from orchestra.sandbox.apply import Applied
from orchestra.store.db import Database

# The audit entry names at most this many files (and counts all of them).
_FILES_IN_AUDIT = 50


class ChangeApplier:
    def __init__(self, db: Database, audit: AuditTrail, sandboxes: Sandboxes) -> None:
        self.db = db
        self.audit = audit
        self.sandboxes = sandboxes

    async def apply(self, job: Job, *, actor: str) -> Applied:
        if job.project is None:
            raise InvalidInput(f"job {job.id} worked on no project: there is nothing to apply")
        if job.status is not JobStatus.SUCCEEDED:
            raise Conflict(f"job {job.id} is {job.status.value}: only a succeeded job's change "
                           "is applied (its diff is still there to read)")
        async with self.db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('aura.apply:' || $1))",
                               job.project)
            applied = await self.sandboxes.apply(job.id, Path(job.project))
            if not applied.already:
                await self.audit.record(
                    conn, actor=actor, action="job.applied", subject=str(job.id),
                    details={"project": job.project, "after": applied.after,
                             "files": len(applied.files),
                             "paths": list(applied.files[:_FILES_IN_AUDIT])},
                )
        return applied
