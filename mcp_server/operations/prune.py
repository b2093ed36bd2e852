"""`aura retention prune`: a dry run by default; with `--yes`, the Director's decision.

The CLI runs on the host, with the home and its Director key: the command itself is the
Director's decision, recorded as an approval decided by the Director (or by the policy when
`[approvals] retention_prune = false`), like reinstating with the Director key. The approval,
the rows pruned and the audit entry commit in one transaction; the folders and backups go
after the commit (a file system has no rollback), and a second run finds any left over.

Database credentials alone do not make the Director (the worker's container has them, not the
key): `--yes` needs the Director key, checked against the digest the API's process recorded
(`governance.director_key`); without a key that verifies, nothing is pruned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from governance import director_key
from governance.approvals import DIRECTOR, Approvals
from governance.auditor import Auditor
from mcp_server.app import build_system
from mcp_server.settings import Settings
from orchestra import retention
from orchestra.errors import Forbidden, InvalidInput
from orchestra.store.db import Database

ACTION = "retention_prune"
_AGE = re.compile(r"^([1-9][0-9]{0,5})([hdw])$")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_age(text: str) -> timedelta:
    """`365d`, `52w`, `36h` → a duration; anything else is refused, saying what is accepted."""
    match = _AGE.match(text.strip())
    if match is None:
        raise InvalidInput(f"--older-than {text!r} is not an age: use a whole number with h, "
                           "d or w, e.g. 365d")
    return int(match[1]) * _UNIT[match[2]]


@dataclass(frozen=True, slots=True)
class Pruned:
    plan: retention.Plan
    pruned: bool
    approval_id: str | None = None
    jobs_cleared: int = 0
    runlog_deleted: int = 0
    files_removed: int = 0

    def as_dict(self) -> dict[str, object]:
        return {**self.plan.as_dict(), "pruned": self.pruned, "approval_id": self.approval_id,
                "jobs_cleared": self.jobs_cleared, "runlog_deleted": self.runlog_deleted,
                "files_removed": self.files_removed}


@dataclass
class Pruner:
    db: Database
    auditor: Auditor
    approvals: Approvals
    places: retention.Places

    async def dry_run(self, cutoff: datetime) -> retention.Plan:
        async with self.db.connection() as conn:
            return await retention.plan(conn, cutoff, self.places)

    async def prune(self, cutoff: datetime, remove_copy: retention.CopyRemover,
                    progress: retention.Progress) -> Pruned:
        async with self.db.transaction() as conn:
            found = await retention.plan(conn, cutoff, self.places)
            counts = found.summary()
            approval = await self.approvals.record_director_action(
                action=ACTION, subject=f"older than {cutoff.isoformat()}",
                params={"cutoff": cutoff.isoformat(), **counts},
                summary=f"prune what jobs finished before {cutoff.date()} left behind",
                conn=conn)
            progress(f"clearing {found.jobs_with_output} jobs' output and "
                     f"{found.runlog_entries} run-log entries")
            cleared, deleted = await retention.prune_rows(conn, cutoff)
            await self.auditor.record(
                conn, actor=DIRECTOR, action="retention.pruned", subject=cutoff.isoformat(),
                details={**counts, "jobs_cleared": cleared, "runlog_deleted": deleted,
                         "approval_id": str(approval.id)})
        progress(f"removing {len(found.sandboxes)} sandboxes, {len(found.snapshots)} "
                 f"snapshot folders, {len(found.backups)} backups")
        removed = await retention.remove_files(found, remove_copy, progress)
        return Pruned(found, True, str(approval.id), cleared, deleted, removed)


async def check_director_key(db: Database, presented: str, source: str) -> None:
    """Refuse (Forbidden) unless `presented` is the Director key the API's process recorded."""
    async with db.connection() as conn:
        verdict = await director_key.verified(conn, presented)
    if verdict is None:
        raise Forbidden("no Director key is recorded in the database: start Aura's API once "
                        "(`aura up` or `aura serve`) so it records the key's digest; "
                        "nothing was pruned")
    if not verdict:
        raise Forbidden(f"the Director key from {source} is not the one the API uses; "
                        "--yes acts as the Director and needs the Director key; "
                        "nothing was pruned")


async def prune_home(settings: Settings, dsn: str, cutoff: datetime, *,
                     key: tuple[str, str] | None, progress: retention.Progress) -> Pruned:
    """The home's prune: a dry run (`key` None), or the prune as the Director, whose key and
    where it came from are `key`, with a System for its approvals and sandboxes."""
    system = await build_system(settings, dsn)
    try:
        pruner = Pruner(system.db, system.auditor, system.approvals, retention.Places(
            settings.sandbox_dir.resolve(), settings.snapshot_dir.resolve(),
            settings.backup_dir))
        if key is None:
            return Pruned(await pruner.dry_run(cutoff), pruned=False)
        await check_director_key(system.db, *key)
        return await pruner.prune(cutoff, system.sandboxes.remove, progress)
    finally:
        await system.close()
